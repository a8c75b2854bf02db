"""``inferrt serve`` command line: flags, and repository errors reported before any port is opened."""
import pytest

from inferrt.cli.main import main


def test_help_lists_flags(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in ("--model-repository", "--http-port", "--grpc-port", "--no-grpc", "--log-requests"):
        assert flag in out


def test_repository_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["serve"])
    assert "--model-repository" in capsys.readouterr().err


def test_bad_repository_fails_with_the_field(tmp_path, capsys):
    pytest.importorskip("kserve")
    assert main(["serve", "--model-repository", str(tmp_path / "missing")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.pbtxt").write_text("max_batch_size: 4 dynamic_batching { preferred_batch_size: 9 }")
    assert main(["serve", "--model-repository", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "preferred_batch_size" in err and "config.pbtxt" in err
