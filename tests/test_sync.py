"""Notebooks are clean and the package is in sync with them (nbdev's own CI idiom)."""
from conftest import BIN, NOTEBOOKS, ROOT, git_state, run


def test_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ['01_dataset', '02_backbones', '03_fusion', '04_training', '04b_unfreeze', '05_results', '06_gradcam',
                     '06b_experiment', '07_cli', '08_plumbing', '09_transfer', '10_speed'], names


def test_clean_and_export_leave_no_diff():
    before = git_state()
    run([BIN / 'nbdev_clean'])
    run([BIN / 'nbdev_export'])
    after = git_state()
    status = run(['git', 'status', '--short']).stdout
    assert before == after, ('nbdev_clean / nbdev_export changed files: notebooks were not clean or fusion_nb/ '
                             f'was out of sync with them. Run both and commit.\n{status}')
    for nb in NOTEBOOKS:
        module = nb.stem.split('_', 1)[1]
        assert (ROOT / 'fusion_nb' / f'{module}.py').exists(), f'{nb.name} exports no fusion_nb/{module}.py'
