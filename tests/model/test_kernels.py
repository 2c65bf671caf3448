"""The CPU decode kernels (model/kernels.py, model/csrc/decode.c): they build here, compute what torch
computes for every instruction set and shape, and the model decodes the same with or without them."""

from __future__ import annotations

import os
import platform
import shutil

import pytest
import torch

from model import kernels, load_model
from model.quant import Int8Linear
from tests.model.random_checkpoint import GEOMETRIES, random_checkpoint

BUILDS_HERE = platform.machine() in ("x86_64", "AMD64") and bool(shutil.which("cc") or shutil.which("gcc"))


@pytest.fixture(scope="module")
def library_path():
    if not BUILDS_HERE:
        pytest.skip("no x86-64 C compiler: the runtime falls back to torch (tested below)")
    return kernels.build()


def test_kernels_load_on_a_machine_with_a_compiler():
    """CI has gcc: a broken build must fail here, not silently slow every decode down."""
    if not BUILDS_HERE:
        pytest.skip("no x86-64 C compiler")
    assert kernels.kernels() is not None, kernels.status()
    assert kernels.status().startswith("on (")


def _isas(path):
    best = kernels.KernelLibrary(path).isa
    return [kernels.KernelLibrary(path, limit) for limit in range(best + 1)]


@pytest.mark.parametrize("M", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("N,K", [(1, 1), (3, 7), (64, 16), (130, 100), (1001, 576), (33, 1536)])
def test_gemv_matches_torch_on_every_instruction_set(library_path, M, N, K):
    g = torch.Generator().manual_seed(M * 1000 + N + K)
    x = torch.randn(M, K + 5, generator=g)[:, :K]  # rows K + 5 apart: strided input
    w = torch.randn(N, K, generator=g)
    q = torch.randint(-127, 128, (N, K), generator=g, dtype=torch.int8)
    s = torch.rand(N, generator=g) / 50
    wb = w.bfloat16()
    sg = torch.rand(N, max(1, K // 16), generator=g) / 50  # group scales, 16 weights a group
    if K % 16 == 0:
        deq_g = q.double() * sg.double().repeat_interleave(16, dim=1)
        want_g = x.double() @ deq_g.T
        bound_g = (x.abs().double() @ deq_g.abs().T) * K * 2.4e-7
    want = (x.double() @ w.double().T)
    want_b = (x.double() @ wb.double().T)
    want_q = (x.double() @ q.double().T) * s.double()
    bound = (x.abs().double() @ w.abs().double().T) * K * 1.2e-7  # fp32 accumulation error bound
    bound_q = (x.abs().double() @ q.abs().double().T) * s.double() * K * 1.2e-7
    for lib in _isas(library_path):
        for threads in (1, 2):
            y = torch.full((M, N + 3), float("nan"))
            lib.f32(x.data_ptr(), M, K + 5, w.data_ptr(), N, K, y.data_ptr(), N + 3, threads, lib.isa)
            assert ((y[:, :N].double() - want).abs() <= bound + 1e-30).all(), (kernels.ISA_NAMES[lib.isa], threads)
            assert y[:, N:].isnan().all(), "wrote outside its output rows"
            lib.q8(x.data_ptr(), M, K + 5, q.data_ptr(), s.data_ptr(), N, K, y.data_ptr(), N + 3, threads, lib.isa)
            assert ((y[:, :N].double() - want_q).abs() <= bound_q + 1e-30).all(), (kernels.ISA_NAMES[lib.isa], threads)
            if K % 16 == 0:  # grouped int8: one scale per 16 weights here
                lib.q8g(x.data_ptr(), M, K + 5, q.data_ptr(), sg.data_ptr(), 4, N, K, y.data_ptr(), N + 3, threads,
                        lib.isa)
                assert ((y[:, :N].double() - want_g).abs() <= bound_g + 1e-30).all(), kernels.ISA_NAMES[lib.isa]
            lib.bf16(x.data_ptr(), M, K + 5, wb.data_ptr(), N, K, y.data_ptr(), N + 3, threads, lib.isa)
            assert ((y[:, :N].double() - want_b).abs() <= bound + 1e-30).all(), (kernels.ISA_NAMES[lib.isa], threads)


def test_gemv_wrapper_shapes_and_dispatch():
    if kernels.kernels() is None:
        pytest.skip(kernels.status())
    w = torch.randn(40, 24)
    x = torch.randn(2, 3, 24)
    assert kernels.usable(x, w)
    y = kernels.gemv(x, w)
    assert y.shape == (2, 3, 40) and torch.allclose(y, x @ w.T, atol=1e-5)
    xt = torch.randn(24, 3).T  # non-unit inner stride is copied, not misread
    assert torch.allclose(kernels.gemv(xt, w), xt @ w.T, atol=1e-5)
    assert not kernels.usable(torch.randn(kernels.MAX_ROWS + 1, 24), w)  # prefill: torch's GEMM
    assert not kernels.usable(x.bfloat16(), w) and not kernels.usable(x, w.bfloat16())
    xb, wb = x.bfloat16(), w.bfloat16()
    assert kernels.usable(xb, wb)
    yb = kernels.gemv(xb, wb)  # fp32 accumulation, one rounding to bf16 at the end
    want = (xb.double() @ wb.double().T)
    assert yb.dtype == torch.bfloat16 and ((yb.double() - want).abs() <= want.abs() / 128 + 1e-3).all()
    assert not kernels.usable(x, w.T)  # column-major weight


@pytest.fixture(scope="module", params=["m1-mini", "llama"])
def checkpoint(request, tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("k" + request.param), request.param, seed=5)


def _greedy_logits(model, prompt, n=12):
    cache = model.new_cache(prompt.shape[0], prompt.shape[1] + n)
    logits = model(prompt, cache=cache)[:, -1]
    out = [logits]
    for _ in range(n):
        logits = model(logits.argmax(-1, keepdim=True), cache=cache)[:, -1]
        out.append(logits)
    return torch.stack(out, 1)


@pytest.mark.parametrize("dtype", [torch.float32, "int8"])
def test_decoding_with_and_without_kernels_agrees(checkpoint, monkeypatch, dtype):
    if kernels.kernels() is None:
        pytest.skip(kernels.status())
    prompt = torch.randint(0, 60, (3, 9), generator=torch.Generator().manual_seed(1))
    with_kernels = _greedy_logits(load_model(checkpoint, dtype=dtype), prompt)
    monkeypatch.setitem(kernels._state, "kernels", None)
    without = _greedy_logits(load_model(checkpoint, dtype=dtype), prompt)  # column-major fp32, torch GEMV
    assert torch.equal(with_kernels.argmax(-1), without.argmax(-1))
    scale = without.abs().max()
    assert (with_kernels - without).abs().max() <= (1e-5 if dtype == torch.float32 else 3e-2) * scale


def test_no_compiler_falls_back_to_torch_and_says_why(checkpoint, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built there yet
    monkeypatch.setattr(kernels, "_compiler", lambda: None)
    monkeypatch.setattr(kernels, "_state", {})
    assert kernels.kernels() is None
    assert kernels.status() == "unavailable: no C compiler found (set CC, or install gcc)"
    assert "decoding is slower" in caplog.text
    model = load_model(checkpoint)
    assert model.lm_head.weight.t().is_contiguous()  # the layout torch's GEMV reads fastest
    prompt = torch.tensor([[3, 1, 4, 1, 5]])
    assert _greedy_logits(model, prompt, n=3).isfinite().all()


def test_switched_off_by_environment_or_setting(monkeypatch):
    monkeypatch.setenv("M1E_CPU_KERNELS", "off")
    monkeypatch.setattr(kernels, "_state", {})
    assert kernels.kernels() is None and kernels.status() == "off (M1E_CPU_KERNELS=off)"
    monkeypatch.delenv("M1E_CPU_KERNELS")
    kernels.configure("off")  # what the app does with its `cpu_kernels` setting
    assert kernels.kernels() is None and kernels.status() == "off (cpu_kernels=off)"
    with pytest.raises(ValueError, match="must be on, off, avx2 or c"):
        kernels.configure("fast")
    if BUILDS_HERE:
        kernels.configure("c")
        assert kernels.kernels() is not None and kernels.status() == "on (c)"


def test_a_failed_compile_names_the_source(monkeypatch, tmp_path):
    if not BUILDS_HERE:
        pytest.skip("no C compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bad = tmp_path / "broken.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(kernels, "SOURCE", bad)
    with pytest.raises(RuntimeError, match="failed on broken.c"):
        kernels.build()
    assert not list((tmp_path / "m1-evidence" / "kernels").glob("*.so*"))  # no half-written library left


# The 14B's head geometry (head dim 128, GQA 40:8 global and 40:8 SWA scaled down) and an
# unaligned one (hidden 72: no width a multiple of 16, head dims 36 and 12).
UNSEEN = {
    "hd128": dict(vocab_size=90, hidden_size=256, intermediate_size=200, num_hidden_layers=3, num_attention_heads=2,
                  num_key_value_heads=1, num_swa_attention_heads=2, num_swa_key_value_heads=2, sliding_window=6,
                  sliding_window_layers=[1]),
    "unaligned": dict(vocab_size=77, hidden_size=72, intermediate_size=100, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, num_swa_attention_heads=6, num_swa_key_value_heads=3, sliding_window=3,
                      sliding_window_layers=[0]),
}


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES) + sorted(UNSEEN))
def test_fused_decode_attention_equals_the_torch_path(geometry, tmp_path, monkeypatch):
    """Conv, RoPE, cache write (global slots and SWA ring, wrapped several times), GQA and softmax
    in one kernel call compute what network.py's torch ops compute, for every test geometry."""
    if kernels.kernels() is None:
        pytest.skip(kernels.status())
    model = load_model(random_checkpoint(tmp_path, UNSEEN.get(geometry, geometry), seed=9))
    cfg = model.config
    steps = 3 * cfg.sliding_window + 4 if cfg.sliding_window_layers else 12
    prompt = torch.randint(1, cfg.vocab_size, (2, 5), generator=torch.Generator().manual_seed(3))

    def run():
        cache = model.new_cache(2, 5 + steps + 2)
        logits = model(prompt, cache=cache)[:, -1]
        out = []
        for i in range(steps):
            if i == steps // 2:  # drop a sequence half way: the cache is re-indexed, the kernel goes on
                cache.select([1])
                logits = logits[1:]
            logits = model(logits.argmax(-1, keepdim=True), cache=cache)[:, -1]
            out.append(logits[-1])
        return torch.stack(out)

    calls = []
    real = kernels.decode_attention
    monkeypatch.setattr(kernels, "decode_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    fused = run()
    assert len(calls) == steps * cfg.num_hidden_layers
    monkeypatch.setattr(kernels, "attention_usable", lambda *a: False)
    unfused = run()
    assert torch.equal(fused.argmax(-1), unfused.argmax(-1))
    assert (fused - unfused).abs().max() <= 1e-5 * unfused.abs().max()


def test_identity_conv_is_skipped_and_rechecked_after_an_edit(tmp_path):
    """Imported Llama layers have identity taps [0, 1]; skipping the conv changes nothing, and an
    in-place edit of the taps turns the convolution back on."""
    model = load_model(random_checkpoint(tmp_path, "llama", seed=2))
    attn = model.model.layers[0].self_attn
    assert attn.identity_conv()
    ids = torch.randint(0, model.config.vocab_size, (1, 7), generator=torch.Generator().manual_seed(0))
    before = model(ids)
    with torch.no_grad():
        attn.conv_k[..., 0] = 0.5  # the previous token now leaks into K
    assert not attn.identity_conv()
    after = model(ids)
    assert torch.equal(before[:, 0], after[:, 0])  # the first token has no predecessor (zeros)
    assert not torch.allclose(before[:, 1:], after[:, 1:])


def test_an_unwritable_cache_builds_in_a_private_temporary_folder(monkeypatch, tmp_path):
    if not BUILDS_HERE:
        pytest.skip("no C compiler")
    blocker = tmp_path / "not-a-folder"  # (chmod would not stop root) no folder can be made below a file
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(kernels.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    private = tmp_path / "tmp" / f"m1-evidence-kernels-{os.getuid()}"
    path = kernels.build()
    assert path.parent == private and kernels.KernelLibrary(path).isa >= 0
    private.chmod(0o777)  # anyone could have put a library there: refuse it
    with pytest.raises(RuntimeError, match="not this user's alone"):
        kernels.build()
