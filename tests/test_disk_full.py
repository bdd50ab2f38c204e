"""A full disk, or a write that fails for another reason (a quota, a read-only file system or folder, an I/O error):
one `error:` line that names the file, the space left and what was kept, never a traceback, and never a half-written
file in place of a good one."""
import errno
import os
from pathlib import Path

import pytest

import tensorboard.compat.tensorflow_stub.io.gfile as gfile
from darts_nexp.cli.data import main as data_main
from darts_nexp.cli.train import main as train_main
from darts_nexp.io import WriteFailed, write_atomic
from darts_nexp.runs import Run, load_checkpoint, run_info

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V2 = str(ROOT / "genotypes" / "darts_v2.yaml")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


def train_args(data_dir: Path, out: Path) -> list[str]:
    return ["--config", SMOKE, "--genotype", V2, "--data-dir", str(data_dir), "--device", "cpu", "--out", str(out),
            "--progress", "false", "--data.image-size", "16", "16"]


def fail_write(monkeypatch, name: str, nth: int = 1, code: int = errno.ENOSPC) -> None:
    """Stop the `nth` atomic write of the file `name` half way with OSError `code`, as a disk that fills up does."""
    real = Path.write_bytes
    seen = []

    def write_bytes(self, data):
        if self.name == f"{name}.tmp":
            seen.append(self)
            if len(seen) == nth:
                real(self, data[: len(data) // 2])
                raise OSError(code, os.strerror(code))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Exception in thread" not in err, err
    return err


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("code,remedy", [(errno.ENOSPC, "free space"), (errno.EROFS, "make {out} writable")])
def test_a_failed_checkpoint_keeps_the_last_one_and_resume_finishes(data_dir, tmp_path, monkeypatch, capsys, code,
                                                                    remedy):
    out = tmp_path / "run"
    fail_write(monkeypatch, "last.pt", nth=2, code=code)  # the checkpoint of epoch 2 of 2
    with pytest.raises(SystemExit) as e:
        train_main(train_args(data_dir, out))
    assert e.value.code == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: cannot write {out / 'last.pt'} ({os.strerror(code)}; ")
    assert " free on its file system); " in err
    assert err.endswith(f"; {out / 'last.pt'} from epoch 1 is kept: {remedy.format(out=out)} and resume with "
                        f"darts-nexp train --resume {out}\n")
    assert no_temporary_files(out)
    assert load_checkpoint(out / "last.pt")["epoch"] == 0  # whole, and the epoch before the failure
    train_main(["--resume", str(out), "--progress", "false"])  # the write fails once: the disk has room again
    assert run_info(out)["status"] == "finished" and (out / "metrics.json").is_file()
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_a_failed_result_keeps_the_checkpoints_and_resume_writes_it(data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    fail_write(monkeypatch, "metrics.json")
    with pytest.raises(SystemExit):
        train_main(train_args(data_dir, out))
    err = one_error_line(capsys)
    assert err.startswith(f"error: cannot write {out / 'metrics.json'} (No space left on device; ")
    assert f"{out / 'last.pt'} from epoch 2 is kept: free space and resume with" in err
    assert no_temporary_files(out) and not (out / "metrics.json").exists()
    train_main(["--resume", str(out), "--progress", "false"])
    assert run_info(out)["status"] == "finished" and (out / "metrics.json").is_file()


def test_a_run_folder_made_read_only_gives_one_line(data_dir, tmp_path, monkeypatch, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    out = tmp_path / "run"
    real_save = Run.save_checkpoint

    def save_then_lock(self, name, role, state):
        real_save(self, name, role, state)
        if name == "last.pt":
            out.chmod(0o555)

    monkeypatch.setattr(Run, "save_checkpoint", save_then_lock)
    try:
        with pytest.raises(SystemExit) as e:
            train_main(train_args(data_dir, out))
    finally:
        out.chmod(0o755)
    assert e.value.code == 2
    err = one_error_line(capsys)
    assert "(Permission denied; " in err
    assert err.endswith(f"; {out / 'last.pt'} from epoch 1 is kept: make {out} writable and resume with "
                        f"darts-nexp train --resume {out}\n")
    assert no_temporary_files(out)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's traceback
def test_failed_tensorboard_events_give_one_line(data_dir, tmp_path, monkeypatch, capsys):
    """TensorBoard writes its events from a thread of its own, and appends to one file rather than replacing it."""
    def full(self, filename, file_content, binary_mode=False):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(gfile.LocalFileSystem, "append", full)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        train_main(train_args(data_dir, out))
    assert e.value.code == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: cannot write {out / 'events.out.tfevents.*'} (No space left on device; ")
    assert f"and resume with darts-nexp train --resume {out}" in err


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO])
@pytest.mark.parametrize("at", ["write", "rename"])
def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path, monkeypatch, code, at):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    def fail(*_):
        raise OSError(code, os.strerror(code))

    if at == "write":
        fail_write(monkeypatch, path.name, code=code)
    else:
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteFailed) as e:
        write_atomic(path, "new and longer")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]
    assert str(e.value).startswith(f"cannot write {path} ({os.strerror(code)}; ")
    assert e.value.remedy == ("free space" if code in (errno.ENOSPC, errno.EDQUOT) else f"make {tmp_path} writable")


def test_a_full_disk_under_the_synthetic_generator_gives_one_line(tmp_path, monkeypatch, capsys):
    fail_write(monkeypatch, "test_labels.csv")
    with pytest.raises(SystemExit) as e:
        data_main(["synthetic", "--out", str(tmp_path / "set"), "--n-train", "20", "--n-test", "4"])
    assert e.value.code == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: cannot write {tmp_path / 'set' / 'test_labels.csv'} (No space left on device; ")
    assert no_temporary_files(tmp_path)


def test_a_full_disk_under_the_image_cache_gives_one_line(data_dir, tmp_path, monkeypatch, capsys):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(SystemExit) as e:
        train_main(train_args(data_dir, tmp_path / "run") + ["--cache-dir", str(tmp_path / "cache")])
    assert e.value.code == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: cannot write {tmp_path / 'cache'}") and "pass another folder to --cache-dir" in err
    assert no_temporary_files(tmp_path / "cache")
