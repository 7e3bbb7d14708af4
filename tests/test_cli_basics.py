import subprocess
import sys

from filmrt.cli.main import main


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "filmrt" in out and "COMMAND" in out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "filmrt", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("filmrt ")
