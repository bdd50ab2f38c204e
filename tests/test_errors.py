"""cli_entry: what reaches the user when a command fails on something other than its input's content."""
import errno

import pytest

from darts_nexp.cli.entry import cli_entry


def run(capsys, exc: BaseException) -> tuple[int, str]:
    @cli_entry
    def command():
        raise exc

    with pytest.raises(SystemExit) as stop:
        command()
    return stop.value.code, capsys.readouterr().err


def test_a_denied_permission_names_the_path(capsys):
    code, err = run(capsys, PermissionError(errno.EACCES, "Permission denied", "/data/train/good_0"))
    assert code == 2 and err.startswith("error: permission denied: /data/train/good_0;") and err.count("\n") == 1


@pytest.mark.parametrize("exc", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 120000000000 bytes. Error code 12 (Cannot allocate memory)"),
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.11 GiB total capacity)"),
    MemoryError(),
])
def test_running_out_of_memory_says_what_to_lower(capsys, exc):
    code, err = run(capsys, exc)
    assert code == 2 and err.startswith("error: out of memory (") and "--batch-size" in err and err.count("\n") == 1


def test_other_runtime_errors_are_not_hidden():
    """A RuntimeError that is not about memory is a bug of darts-nexp or torch: its traceback must show."""
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli_entry(lambda: (_ for _ in ()).throw(RuntimeError("shape mismatch")))()
