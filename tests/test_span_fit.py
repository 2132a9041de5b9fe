"""bench/span_fit.py's CPU precision choice (the fit itself runs outside the test suite)."""
import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "bench" / "span_fit.py"
_spec = importlib.util.spec_from_file_location("span_fit", _PATH)
span_fit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(span_fit)


def test_bf16_only_where_the_cpu_computes_it_natively():
    # emulated bf16 autocast was >15x slower than fp32 on a CPU without these flags
    assert span_fit.cpu_has_bf16("flags\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile")
    assert span_fit.cpu_has_bf16("flags\t: fpu avx2 amx_bf16")
    assert not span_fit.cpu_has_bf16("flags\t: fpu sse2 avx2 avx512f avx512bw")
    assert not span_fit.cpu_has_bf16("")
