"""``inferrt exec``'s build progress bars (exec_progress.py): tqdm bars driven by IProgressMonitor, on stderr only when
it is a terminal, off with --noProgress, and no bar (with a warning) when tqdm is missing."""
from __future__ import annotations

import functools
import io
import re
import sys

from inferrt.builder.progress import BUILD, PHASES, TACTICS
from inferrt.cli.main import main

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "1", "--device", "cpu", "--skipInference")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_for_every_phase(capsys, monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["exec", *FAST]) == 0
    drawn = term.getvalue()
    for phase in (BUILD, *PHASES):
        assert phase in drawn, phase
    assert re.search(rf"{BUILD}: 100%.*\b5/5\b", drawn), drawn          # the top bar: one step per phase, all done
    assert "Engine built" in capsys.readouterr().out                    # the report stays on stdout, bar-free
    assert BUILD not in capsys.readouterr().out


def test_an_onnx_model_gets_a_parse_bar_first(capsys, monkeypatch, tmp_path):
    from test_exec_shapes import _model

    m = _model(tmp_path / "m.onnx", dims=(2, 3, 6))
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["exec", *FAST, "--onnx", m]) == 0
    drawn = term.getvalue()
    assert "Parsing m.onnx" in drawn and drawn.index("Parsing m.onnx") < drawn.index(BUILD)


def test_no_bar_when_stderr_is_not_a_terminal_or_with_no_progress(capsys, monkeypatch):
    assert main(["exec", *FAST]) == 0
    out, err = capsys.readouterr()
    assert BUILD not in err and BUILD not in out
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["exec", *FAST, "--noProgress"]) == 0
    assert term.getvalue() == ""


def test_without_tqdm_the_build_runs_without_a_bar(capsys, monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setitem(sys.modules, "tqdm", None)                      # import tqdm raises ImportError
    assert main(["exec", *FAST]) == 0
    assert term.getvalue() == "[W] tqdm is not installed, so the build shows no progress bar (pip install tqdm)\n"
    assert "Engine built" in capsys.readouterr().out


def test_bar_monitor_closes_the_bars_a_cancelled_build_leaves_open():
    import inferrt as trt
    from inferrt.cli.exec_progress import BarMonitor
    from inferrt.models.mnist import build_mnist_network
    from tqdm import tqdm

    class Stopping(BarMonitor):
        def step_complete(self, phase_name, step):
            super().step_complete(phase_name, step)
            return not (phase_name == TACTICS and step == 1)

    term = Terminal()
    builder = trt.Builder(trt.Logger(trt.Logger.INTERNAL_ERROR))
    net = build_mnist_network(builder.create_network(0), dynamic_batch=False)
    config = builder.create_builder_config()
    config.device = "cpu"
    mon = Stopping(term, functools.partial(tqdm, mininterval=0))       # draw every step
    config.progress_monitor = mon
    assert builder.build_serialized_network(net, config) is None
    assert mon.bars == {}                                               # every bar was closed
    drawn = term.getvalue()
    assert re.search(rf"{TACTICS}:.*\b2/8\b", drawn) and not re.search(rf"{TACTICS}:.*\b3/8\b", drawn)
    assert re.search(rf"{BUILD}:.*\b2/5\b", drawn) and not re.search(rf"{BUILD}:.*\b3/5\b", drawn)

