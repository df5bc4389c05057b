import time
import types

from benchmarks import run
from benchmarks.run import Case


def test_time_call_measures_median():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.01)

    t = run.time_call(fn, repeat=3, warmup=True)
    assert len(calls) == 4  # one warm-up + three timed calls
    assert 0.009 < t < 0.5


def test_rows_and_markdown(monkeypatch):
    def cases(quick):
        assert quick is True
        return [Case("sleepy", ours=lambda: time.sleep(0.002), baselines={"slower": lambda: time.sleep(0.02)}, repeat=2)]

    Fake = types.SimpleNamespace(__name__="benchmarks.bench_fake", cases=cases)

    monkeypatch.setattr(run, "_modules", lambda f: [Fake])
    rows = run.run(quick=True)
    assert [r["impl"] for r in rows] == ["nips2019", "slower"]
    assert rows[0]["ratio"] == 1.0
    assert rows[1]["ratio"] > 2  # baseline sleeps 10x longer
    text = run.to_markdown(rows, quick=True)
    assert "| fake | sleepy | slower |" in text
    assert text.count("\n|") >= 3


def test_every_bench_module_defines_cases():
    mods = list(run._modules(None))
    assert any(m.__name__.endswith("bench_notebooks") for m in mods)
    for m in mods:
        assert callable(getattr(m, "cases", None)), m.__name__
