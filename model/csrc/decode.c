/* CPU kernels for decoding (one new token per sequence), called from model/kernels.py:
 *   m1_gemv_f32/_bf16/_q8      y[m, n] = scale[n] * sum_k x[m, k] * w[n, k] for a few rows m
 *   m1_decode_attention         one layer's conv + RoPE + cache write + attention
 *   m1_rms_norm                 RMSNorm of a few rows
 *   m1_dequant_q8               int8 rows to fp32, for prefill's matrix products
 *
 * Decoding one token multiplies every weight matrix by one vector, so it runs at the speed the
 * matrices stream from memory. PyTorch's BLAS runs these products on one core (on the 2-core
 * bench machine 11-16 GB/s of the 32 GB/s it can read); here the rows of W are split over the
 * OpenMP threads PyTorch already uses (the library links the libgomp torch has loaded), each
 * thread reads its rows front to back with a software prefetch ahead, and each row is read once
 * for all m. Accumulation is fp32. Weights are fp32, bf16, or int8 with one fp32 scale per row. What
 * surrounds the products in a layer is a few dozen tiny torch ops at a few microseconds each;
 * the attention and norm kernels do that work in three calls.
 *
 * One body per instruction set (AVX-512, AVX2+FMA, plain C) chosen at run time, so one build
 * runs on any x86-64 machine.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>

/* Each thread prefetches its rows this far ahead into L2 (measured on the bench machine: T1 beats T0
 * and NTA by 1-3 ms a SmolLM2 step; 2-8 KB distances are within noise of each other). */
#define PREFETCH_BYTES 4096
#define PREFETCH_HINT _MM_HINT_T1
#define MBLOCK 4            /* rows of x that share one pass over a pair of weight rows */

typedef void (*rows_fn)(const float *x, int64_t M, int64_t ldx, const void *w, const float *scale,
                        int64_t gshift, int64_t K, int64_t n0, int64_t n1, float *y, int64_t ldy);

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* bf16 is the top half of an fp32: widening it is exact. */
static inline float bf16_to_f32(uint16_t v) {
    union { uint32_t u; float f; } c = {(uint32_t)v << 16};
    return c.f;
}
/* One weight as fp32, whatever the weight type (float, int8_t, or uint16_t holding bf16). */
#define W_F32(v) _Generic((v), uint16_t: bf16_to_f32(v), default: (float)(v))

/* ------------------------------------------------------------------ plain C */

#define C_KERNEL(NAME, WT, SCALE, ROW)                                                              \
    static void NAME(const float *x, int64_t M, int64_t ldx, const void *wv, const float *scale,    \
                     int64_t gshift, int64_t K, int64_t n0, int64_t n1, float *y, int64_t ldy) {    \
        const WT *w = (const WT *)wv;                                                               \
        (void)scale, (void)gshift;                                                                  \
        for (int64_t n = n0; n < n1; n++)                                                           \
            for (int64_t m = 0; m < M; m++) {                                                       \
                float acc = 0.f;                                                                    \
                for (int64_t k = 0; k < K; k++) acc += W_F32(w[n * K + k]) * x[m * ldx + k] * SCALE(n, k); \
                y[m * ldy + n] = acc * ROW(n);                                                      \
            }                                                                                       \
    }

#define ONE(...) 1.0f
#define GROUP_SCALE(n, k) scale[(n) * (K >> gshift) + ((k) >> gshift)]
#define ROW_SCALE(n) scale[n]
C_KERNEL(f32_rows_c, float, ONE, ONE)
C_KERNEL(bf16_rows_c, uint16_t, ONE, ONE)
C_KERNEL(q8_rows_c, int8_t, ONE, ROW_SCALE)
C_KERNEL(q8g_rows_c, int8_t, GROUP_SCALE, ONE)

/* ------------------------------------------------------------------ SIMD bodies
 * One row (M == 1): four accumulators over consecutive chunks, so the row is one sequential
 * stream. Several rows of x: two weight rows against MBLOCK rows of x (8 accumulators); a short
 * last block repeats its last x row and drops the extra results.
 * VEC: register type; W: lanes; LOAD(p)/LOADX(p): weights/x at p; FMA, ADD, ZERO, and HSUM
 * (sum of the lanes); SCALE(n): the row's scale. */

#define PREFETCH_ROW(r, k, WT, W)                                                                   \
    for (int64_t _b = 0; _b < (int64_t)(4 * W * sizeof(WT)); _b += 64)                              \
        _mm_prefetch((const char *)((r) + (k)) + PREFETCH_BYTES + _b, PREFETCH_HINT);

#define SIMD_KERNEL(NAME, TARGET, WT, VEC, W, LOAD, LOADX, FMA, ADD, ZERO, HSUM, SCALE)             \
    __attribute__((target(TARGET))) static void NAME(                                               \
        const float *x, int64_t M, int64_t ldx, const void *wv, const float *scale, int64_t gshift, \
        int64_t K, int64_t n0, int64_t n1, float *y, int64_t ldy) {                                 \
        const WT *w = (const WT *)wv;                                                               \
        (void)scale, (void)gshift;                                                                  \
        const int64_t KV = K - K % W, K4 = K - K % (4 * W);                                         \
        if (M == 1) {                                                                               \
            for (int64_t n = n0; n < n1; n++) {                                                     \
                const WT *r = w + n * K;                                                            \
                VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO;                                     \
                int64_t k = 0;                                                                      \
                for (; k < K4; k += 4 * W) {                                                        \
                    PREFETCH_ROW(r, k, WT, W)                                                       \
                    a0 = FMA(LOAD(r + k, n, k), LOADX(x + k), a0);                                  \
                    a1 = FMA(LOAD(r + k + W, n, k + W), LOADX(x + k + W), a1);                      \
                    a2 = FMA(LOAD(r + k + 2 * W, n, k + 2 * W), LOADX(x + k + 2 * W), a2);          \
                    a3 = FMA(LOAD(r + k + 3 * W, n, k + 3 * W), LOADX(x + k + 3 * W), a3);          \
                }                                                                                   \
                for (; k < KV; k += W) a0 = FMA(LOAD(r + k, n, k), LOADX(x + k), a0);               \
                float s = HSUM(ADD(ADD(a0, a1), ADD(a2, a3)));                                      \
                for (; k < K; k++) s += W_F32(r[k]) * x[k];                                         \
                y[n] = s * SCALE(n);                                                                \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t n = n0; n < n1; n += 2) {                                                      \
            const int64_t nb = min64(2, n1 - n);                                                    \
            const WT *r0 = w + n * K, *r1 = w + (n + nb - 1) * K;                                   \
            for (int64_t m = 0; m < M; m += MBLOCK) {                                               \
                const int64_t mb = min64(MBLOCK, M - m);                                            \
                const float *xs[MBLOCK];                                                            \
                for (int j = 0; j < MBLOCK; j++) xs[j] = x + (m + min64(j, mb - 1)) * ldx;          \
                VEC c00 = ZERO, c01 = ZERO, c02 = ZERO, c03 = ZERO;                                 \
                VEC c10 = ZERO, c11 = ZERO, c12 = ZERO, c13 = ZERO;                                 \
                for (int64_t k = 0; k < KV; k += W) {                                               \
                    VEC w0 = LOAD(r0 + k, n, k), w1 = LOAD(r1 + k, n + nb - 1, k), xv;              \
                    xv = LOADX(xs[0] + k); c00 = FMA(w0, xv, c00); c10 = FMA(w1, xv, c10);          \
                    xv = LOADX(xs[1] + k); c01 = FMA(w0, xv, c01); c11 = FMA(w1, xv, c11);          \
                    xv = LOADX(xs[2] + k); c02 = FMA(w0, xv, c02); c12 = FMA(w1, xv, c12);          \
                    xv = LOADX(xs[3] + k); c03 = FMA(w0, xv, c03); c13 = FMA(w1, xv, c13);          \
                }                                                                                   \
                float s[2][MBLOCK] = {{HSUM(c00), HSUM(c01), HSUM(c02), HSUM(c03)},                 \
                                      {HSUM(c10), HSUM(c11), HSUM(c12), HSUM(c13)}};                \
                for (int64_t k = KV; k < K; k++)                                                    \
                    for (int j = 0; j < MBLOCK; j++) {                                              \
                        s[0][j] += W_F32(r0[k]) * xs[j][k];                                         \
                        s[1][j] += W_F32(r1[k]) * xs[j][k];                                         \
                    }                                                                               \
                for (int64_t i = 0; i < nb; i++)                                                    \
                    for (int64_t j = 0; j < mb; j++) y[(m + j) * ldy + n + i] = s[i][j] * SCALE(n + i); \
            }                                                                                       \
        }                                                                                           \
    }

#define NO_SCALE(i) 1.0f

/* The four weight types for one instruction set: fp32, bf16, int8 per row, int8 per group. The
 * loads are F32_<L>, BF16_<L>, Q8_<L>, Q8G_<L> for L = LOAD8 or LOAD16. */
#define ISA_KERNELS(ISA, TARGET, VEC, W, L, LOADX, FMA, ADD, ZERO, HSUM)                             \
    SIMD_KERNEL(f32_rows_##ISA, TARGET, float, VEC, W, F32_##L, LOADX, FMA, ADD, ZERO, HSUM, NO_SCALE) \
    SIMD_KERNEL(bf16_rows_##ISA, TARGET, uint16_t, VEC, W, BF16_##L, LOADX, FMA, ADD, ZERO, HSUM, NO_SCALE) \
    SIMD_KERNEL(q8_rows_##ISA, TARGET, int8_t, VEC, W, Q8_##L, LOADX, FMA, ADD, ZERO, HSUM, ROW_SCALE) \
    SIMD_KERNEL(q8g_rows_##ISA, TARGET, int8_t, VEC, W, Q8G_##L, LOADX, FMA, ADD, ZERO, HSUM, NO_SCALE)

/* AVX2 + FMA: 8 lanes */
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
/* Loads of W lanes of weights at p as fp32 (n, k: the row and column, for group scales). */
#define F32_LOAD8(p, n, k) _mm256_loadu_ps(p)
#define BF16_LOAD8(p, n, k)                                                                         \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define Q8_LOAD8(p, n, k) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define Q8G_LOAD8(p, n, k) _mm256_mul_ps(Q8_LOAD8(p, n, k), _mm256_set1_ps(GROUP_SCALE(n, k)))
ISA_KERNELS(avx2, "avx2,fma", __m256, 8, LOAD8, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_add_ps,
            _mm256_setzero_ps(), hsum256)

/* AVX-512: 16 lanes */
#define F32_LOAD16(p, n, k) _mm512_loadu_ps(p)
#define BF16_LOAD16(p, n, k)                                                                        \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define Q8_LOAD16(p, n, k) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define Q8G_LOAD16(p, n, k) _mm512_mul_ps(Q8_LOAD16(p, n, k), _mm512_set1_ps(GROUP_SCALE(n, k)))
ISA_KERNELS(avx512, "avx512f", __m512, 16, LOAD16, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_add_ps,
            _mm512_setzero_ps(), _mm512_reduce_add_ps)

/* ------------------------------------------------------------------ dispatch */

enum { ISA_C = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

/* The instruction set the kernels will use (0 plain C, 1 AVX2, 2 AVX-512), at most `limit`. */
int m1_isa(int limit) {
    __builtin_cpu_init();
    int isa = ISA_C;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = ISA_AVX2;
    if (__builtin_cpu_supports("avx512f")) isa = ISA_AVX512;
    return isa < limit ? isa : limit;
}

static const rows_fn F32[] = {f32_rows_c, f32_rows_avx2, f32_rows_avx512};
static const rows_fn Q8[] = {q8_rows_c, q8_rows_avx2, q8_rows_avx512};
static const rows_fn BF16[] = {bf16_rows_c, bf16_rows_avx2, bf16_rows_avx512};
static const rows_fn Q8G[] = {q8g_rows_c, q8g_rows_avx2, q8g_rows_avx512};

/* Below this many weight bytes one thread is faster than waking the others. */
#define PARALLEL_MIN_BYTES (64 * 1024)

static void run(rows_fn fn, const float *x, int64_t M, int64_t ldx, const void *w, const float *scale,
                int64_t gshift, int64_t N, int64_t K, int64_t elem_bytes, float *y, int64_t ldy, int threads) {
    if (threads < 1 || N * K * elem_bytes < PARALLEL_MIN_BYTES || N < 2 * threads) threads = 1;
    if (threads == 1) {
        fn(x, M, ldx, w, scale, gshift, K, 0, N, y, ldy);
        return;
    }
    /* One contiguous range of rows per thread: each thread streams one region of W. */
#pragma omp parallel num_threads(threads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t n0 = N * t / nt, n1 = N * (t + 1) / nt;
        if (n0 < n1) fn(x, M, ldx, w, scale, gshift, K, n0, n1, y, ldy);
    }
}

/* y[m, n] = sum_k x[m, k] * w[n, k]; x rows `ldx` floats apart, y rows `ldy` floats apart. */
void m1_gemv_f32(const float *x, int64_t M, int64_t ldx, const float *w, int64_t N, int64_t K,
                 float *y, int64_t ldy, int threads, int isa) {
    run(F32[isa], x, M, ldx, w, 0, 0, N, K, 4, y, ldy, threads);
}

/* y[m, n] = sum_k x[m, k] * w[n, k] with bf16 w (given as its raw 16 bits). */
void m1_gemv_bf16(const float *x, int64_t M, int64_t ldx, const uint16_t *w, int64_t N, int64_t K,
                  float *y, int64_t ldy, int threads, int isa) {
    run(BF16[isa], x, M, ldx, w, 0, 0, N, K, 2, y, ldy, threads);
}

/* y[m, n] = scale[n] * sum_k x[m, k] * w[n, k] with int8 w. */
void m1_gemv_q8(const float *x, int64_t M, int64_t ldx, const int8_t *w, const float *scale, int64_t N,
                int64_t K, float *y, int64_t ldy, int threads, int isa) {
    run(Q8[isa], x, M, ldx, w, scale, 0, N, K, 1, y, ldy, threads);
}

/* y[m, n] = sum_k x[m, k] * w[n, k] * scale[n, k >> gshift]: int8 w with one scale per group of
 * 2^gshift consecutive weights of a row (K a multiple of the group, the group of 8 lanes). */
void m1_gemv_q8g(const float *x, int64_t M, int64_t ldx, const int8_t *w, const float *scale, int64_t gshift,
                 int64_t N, int64_t K, float *y, int64_t ldy, int threads, int isa) {
    run(Q8G[isa], x, M, ldx, w, scale, gshift, N, K, 1, y, ldy, threads);
}

/* ------------------------------------------------------------------ decode attention
 * One new token per sequence, every sequence at the same position, fp32: the whole attention
 * of one layer between W_pack and o_proj in one call, instead of some thirty small torch ops
 * (M1-ARCHITECTURE.md; model/network.py computes the same for every other case):
 *   conv:  k = tap0 * k_prev + tap1 * k_raw (same for v), per KV head; k_prev := k_raw
 *   rope:  x * cos + rotate_half(x) * sin on q and k, over the full head dim
 *   cache: write k, v at `slot`; attend over slots [0, n_keys)
 *   attn:  softmax(q . k * scale) . v, query head i reading KV head i / (n_heads / n_kv).
 * Products and sums are rounded one at a time as in the torch ops (built with
 * -ffp-contract=off), except the dot products and the softmax sum, which accumulate in fp32
 * in another order than SDPA. */

#include <math.h>

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

static inline void rope(const float *x, const float *cos_, const float *sin_, int64_t hd, float *out) {
    const int64_t half = hd / 2;
    for (int64_t i = 0; i < hd; i++) {
        const float rot = x[i < half ? i + half : i - half];
        out[i] = x[i] * cos_[i] + rot * sin_[i];
    }
}

CLONES static void attend_head(const float *q, const float *keys, const float *values, int64_t n_keys,
                               int64_t hd, float scale, float *scores, float *out) {
    float mx = -INFINITY;
    for (int64_t t = 0; t < n_keys; t++) {
        const float *kt = keys + t * hd;
        float dot = 0.f;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < hd; i++) dot += q[i] * kt[i];
        scores[t] = dot * scale;
        mx = scores[t] > mx ? scores[t] : mx;
    }
    float total = 0.f;
    for (int64_t t = 0; t < n_keys; t++) {
        scores[t] = expf(scores[t] - mx);
        total += scores[t];
    }
    for (int64_t i = 0; i < hd; i++) out[i] = 0.f;
    for (int64_t t = 0; t < n_keys; t++) {
        const float p = scores[t] / total, *vt = values + t * hd;
#pragma omp simd
        for (int64_t i = 0; i < hd; i++) out[i] += p * vt[i];
    }
}

/* qkv [B, (n_heads + 2 n_kv) hd]; taps_k/taps_v [n_kv, 2] (tap0 multiplies the previous token);
 * conv_k/conv_v [B, n_kv, hd] (updated); cos_/sin_ [hd] (sin signed over the halves); cache_k/cache_v
 * [B, n_kv, slots, hd] (updated at `slot`); scores: scratch of n_threads * n_keys floats;
 * out [B, n_heads hd]. */
void m1_decode_attention(const float *qkv, int64_t B, int64_t n_heads, int64_t n_kv, int64_t hd,
                         const float *taps_k, const float *taps_v, float *conv_k, float *conv_v,
                         const float *cos_, const float *sin_,
                         float *cache_k, float *cache_v, int64_t slots, int64_t slot, int64_t n_keys,
                         float scale, float *scores, float *out, int threads) {
    const int64_t row = (n_heads + 2 * n_kv) * hd, group = n_heads / n_kv;
    const int64_t work = B * n_heads * n_keys * hd;
    if (threads < 1 || work < 64 * 1024) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t bh = 0; bh < B * n_kv; bh++) {
        const int64_t b = bh / n_kv, h = bh % n_kv;
        const float *raw_k = qkv + b * row + (n_heads + h) * hd;
        const float *raw_v = qkv + b * row + (n_heads + n_kv + h) * hd;
        float *prev_k = conv_k + bh * hd, *prev_v = conv_v + bh * hd;
        float *keys = cache_k + bh * slots * hd, *values = cache_v + bh * slots * hd;
        float k[512], qr[512];
        if (hd > 512) continue; /* the caller never sends these (kernels.py checks) */
        for (int64_t i = 0; i < hd; i++) {
            const float kc = prev_k[i] * taps_k[2 * h] + raw_k[i] * taps_k[2 * h + 1];
            const float vc = prev_v[i] * taps_v[2 * h] + raw_v[i] * taps_v[2 * h + 1];
            k[i] = kc;
            values[slot * hd + i] = vc;
        }
        for (int64_t i = 0; i < hd; i++) {
            prev_k[i] = raw_k[i];
            prev_v[i] = raw_v[i];
        }
        rope(k, cos_, sin_, hd, keys + slot * hd);
        float *sc = scores + (int64_t)omp_get_thread_num() * n_keys;
        for (int64_t j = 0; j < group; j++) {
            const int64_t head = h * group + j;
            rope(qkv + b * row + head * hd, cos_, sin_, hd, qr);
            attend_head(qr, keys, values, n_keys, hd, scale, sc, out + b * n_heads * hd + head * hd);
        }
    }
}

/* ------------------------------------------------------------------ RMSNorm
 * y = weight * (x / sqrt(mean(x^2) + eps)) per row, fp32: the norm in front of every decode GEMV.
 * One call instead of the half-dozen ops torch's CPU rms_norm runs for a single row. */
CLONES void m1_rms_norm(const float *x, int64_t M, int64_t K, const float *weight, float eps, float *y) {
    for (int64_t m = 0; m < M; m++) {
        const float *xm = x + m * K;
        float ss = 0.f;
#pragma omp simd reduction(+ : ss)
        for (int64_t k = 0; k < K; k++) ss += xm[k] * xm[k];
        const float r = 1.0f / sqrtf(ss / (float)K + eps);
#pragma omp simd
        for (int64_t k = 0; k < K; k++) y[m * K + k] = weight[k] * (xm[k] * r);
    }
}

/* ------------------------------------------------------------------ int8 dequantization
 * out[n - n0, k] = q[n, k] * scale[n, g] for rows n0 <= n < n1, where g is k's group of K / groups
 * consecutive weights: prefill multiplies many rows by int8 weights with torch's matrix product,
 * a block of dequantized rows at a time (model/quant.py). One pass, both threads. */
void m1_dequant_q8(const int8_t *q, const float *scale, int64_t groups, int64_t K, int64_t n0, int64_t n1,
                   float *out, int threads) {
    const int64_t G = K / groups;
    if (threads < 1 || (n1 - n0) * K < 256 * 1024) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = n0; n < n1; n++) {
        const int8_t *qr = q + n * K;
        const float *s = scale + n * groups;
        float *o = out + (n - n0) * K;
        for (int64_t g = 0; g < groups; g++) {
            const float sg = s[g];
#pragma omp simd
            for (int64_t k = g * G; k < (g + 1) * G; k++) o[k] = (float)qr[k] * sg;
        }
    }
}
