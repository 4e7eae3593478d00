"""Lines fit: ruff's line-length rule (E501) at 120 characters, as pyproject.toml's [tool.ruff] sets it.

Only E501 is selected: the code keeps fastai's compact style (several statements on a line, `import a, b`), which
other rules would flag."""
import json, os, shutil

from conftest import BIN, ROOT, run

RUFF_PATHS = ['fusion_nb', 'tools', 'bench']   # fusion_nb/_modidx.py, nbdev's index of names, is excluded in pyproject


def _all_lines(path) -> set[int]:
    """The line numbers of the `__all__ = [...]` list nbdev_export writes: it wraps the names at 120 characters after
    `__all__ = `, so its first line can reach 130. Written by nbdev, not by us: the one exception."""
    lines, out, inside = (ROOT / path).read_text().splitlines(), set(), False
    for i, line in enumerate(lines, 1):
        inside = inside or line.startswith('__all__ = [')
        if inside: out.add(i)
        if inside and line.rstrip().endswith(']'): break
    return out


def test_lines_fit():
    ruff = shutil.which('ruff', path=os.pathsep.join([str(BIN), os.environ.get('PATH', '')]))
    assert ruff, 'ruff is missing: it is a dev requirement (pip install -e ".[dev]")'
    res = run([ruff, 'check', '--select', 'E501', '--output-format', 'json', *RUFF_PATHS], check=False)
    found = json.loads(res.stdout or '[]')
    long = [f"{os.path.relpath(f['filename'], ROOT)}:{f['location']['row']}: {f['message']}" for f in found
            if not (os.path.relpath(f['filename'], ROOT).startswith('fusion_nb')
                    and f['location']['row'] in _all_lines(os.path.relpath(f['filename'], ROOT)))]
    assert not long, 'lines over 120 characters (wrap them; in fusion_nb/, in the notebooks):\n' + '\n'.join(long)


def test_a_long_line_is_found(tmp_path):
    "The check is worth something: ruff, as configured, flags a 121-character line."
    ruff = shutil.which('ruff', path=os.pathsep.join([str(BIN), os.environ.get('PATH', '')]))
    (tmp_path / 'x.py').write_text('x = "' + 'a' * 115 + '"\n')
    res = run([ruff, 'check', '--select', 'E501', '--line-length', '120', '--output-format', 'json', str(tmp_path / 'x.py')],
              check=False)
    assert [f['code'] for f in json.loads(res.stdout)] == ['E501']
