/* Compiled loops for the analog layers' per-element work on the CPU, loaded by kernels.py through ctypes.
 *
 * Each replaces a chain of small torch ops whose dispatch and temporaries cost more than their arithmetic; each has
 * a torch path in layers.py that it must equal within rounding (tests/test_kernels.py). Arrays are C-contiguous
 * unless strides are given, and their shapes are checked by the caller. No OpenMP: these loops run between torch's
 * own parallel ops. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Built for the baseline instruction set, with wider-vector clones the loader picks on CPUs that have them (on
 * x86-64 these loops run about twice as fast with AVX2 as with SSE2). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* 1 if every x lies strictly between low and high (a clip to them is then the identity, gradient included), else 0;
 * a NaN is not within. The caller rounds the bounds outward to T, so the answer is that of exact arithmetic. Blocks
 * end the scan early once a value is outside. */
#define STRICTLY_WITHIN(T, NAME)                                                                                       \
    VECTOR_CLONES int NAME(const T *x, int64_t n, T low, T high) {                                                     \
        enum { BLOCK = 4096 };                                                                                         \
        for (int64_t start = 0; start < n; start += BLOCK) {                                                           \
            int64_t stop = start + BLOCK < n ? start + BLOCK : n;                                                      \
            int outside = 0;                                                                                           \
            for (int64_t i = start; i < stop; i++) outside |= !((x[i] > low) & (x[i] < high));                         \
            if (outside) return 0;                                                                                     \
        }                                                                                                              \
        return 1;                                                                                                      \
    }

STRICTLY_WITHIN(float, strictly_within_f32)
STRICTLY_WITHIN(double, strictly_within_f64)

/* A one-column matrix's product out = x column (+ *bias; bias may be NULL), x (batch x rows), in the same pass as
 * `strictly_within` of x: 1 with `out` written if every x lies strictly within, 0 if not (`out` then unfinished),
 * -1 where this CPU lacks the vector unit (AVX2 and FMA) that makes one pass pay. The product alone is
 * memory-bound, so the check adds almost nothing here, where apart it is a second pass over x. Sums in 2 x 8 (float)
 * or 2 x 4 (double) lanes, as BLAS does. */
#if defined(__x86_64__) && defined(__GNUC__)
#define COLUMN_PRODUCT_WITHIN(T, MASK, NAME)                                                                           \
    typedef T NAME##_vector __attribute__((vector_size(32)));                                                          \
    typedef MASK NAME##_mask __attribute__((vector_size(32)));                                                         \
    __attribute__((target("avx2,fma"))) static int NAME##_avx2(const T *x, const T *column, const T *bias,             \
                                                               int64_t batch, int64_t rows, T low, T high, T *out) {   \
        enum { LANES = 32 / sizeof(T) };                                                                               \
        for (int64_t n = 0; n < batch; n++) {                                                                          \
            const T *row = x + n * rows;                                                                               \
            NAME##_vector sum0 = {0}, sum1 = {0}, value0, value1, weight0, weight1;                                    \
            NAME##_mask outside = {0};                                                                                 \
            int64_t r = 0;                                                                                             \
            for (; r + 2 * LANES <= rows; r += 2 * LANES) {                                                            \
                memcpy(&value0, row + r, 32);                                                                          \
                memcpy(&value1, row + r + LANES, 32);                                                                  \
                memcpy(&weight0, column + r, 32);                                                                      \
                memcpy(&weight1, column + r + LANES, 32);                                                              \
                sum0 += value0 * weight0;                                                                              \
                sum1 += value1 * weight1;                                                                              \
                outside |= ~((value0 > low) & (value0 < high)) | ~((value1 > low) & (value1 < high));                  \
            }                                                                                                          \
            sum0 += sum1;                                                                                              \
            T sum = 0;                                                                                                 \
            int any_outside = 0;                                                                                       \
            for (int j = 0; j < LANES; j++) {                                                                          \
                sum += sum0[j];                                                                                        \
                any_outside |= outside[j] != 0;                                                                        \
            }                                                                                                          \
            for (; r < rows; r++) {                                                                                    \
                sum += row[r] * column[r];                                                                             \
                any_outside |= !((row[r] > low) & (row[r] < high));                                                    \
            }                                                                                                          \
            if (any_outside) return 0;                                                                                 \
            out[n] = bias ? sum + *bias : sum;                                                                         \
        }                                                                                                              \
        return 1;                                                                                                      \
    }                                                                                                                  \
    int NAME(const T *x, const T *column, const T *bias, int64_t batch, int64_t rows, T low, T high, T *out) {         \
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return -1;                              \
        return NAME##_avx2(x, column, bias, batch, rows, low, high, out);                                              \
    }
#else
#define COLUMN_PRODUCT_WITHIN(T, MASK, NAME)                                                                           \
    int NAME(const T *x, const T *column, const T *bias, int64_t batch, int64_t rows, T low, T high, T *out) {         \
        (void)x, (void)column, (void)bias, (void)batch, (void)rows, (void)low, (void)high, (void)out;                  \
        return -1;                                                                                                     \
    }
#endif

COLUMN_PRODUCT_WITHIN(float, int32_t, column_product_within_f32)
COLUMN_PRODUCT_WITHIN(double, int64_t, column_product_within_f64)

/* dL/dw of a sign crossbar on ideal wires (`_SignCrossbarSlopes.weight_gradient`) in place of dL/dE in `grad`
 * (rows x columns); with `bias_row`, the bias row's dL/dE, the column sums of `bias_source` (dL/dy, batch x columns
 * at the given strides; zeros for an empty batch, whose source may be NULL), is formed first into grad's last row.
 * Tile t holds rows starts[t] to starts[t + 1] - 1; with S the signed magnitudes,
 *   dL/dw[r, c] = grad[r, c] tile_scale[t, c] + main_slopes[r, c] main_scale[t, c] (sum over t's rows of grad S).
 * The tile's sums accumulate in double; a one-column matrix's tiles are contiguous runs, summed in lanes. Returns 0;
 * -1 when the scratch row cannot be allocated; -2, touching nothing, unless the tiles cover rows 0 to rows - 1 in
 * order. */
#define ONE_COLUMN_TILE(T, NAME)                                                                                       \
    VECTOR_CLONES static void one_column_tile_##NAME(T *grad, const T *signed_, const T *main_slopes, T scale,         \
                                                     T main, int64_t first, int64_t end) {                             \
        enum { LANES = 8 };                                                                                            \
        double lanes[LANES] = {0.0};                                                                                   \
        int64_t r = first;                                                                                             \
        for (; r + LANES <= end; r += LANES)                                                                           \
            for (int j = 0; j < LANES; j++) lanes[j] += (double)grad[r + j] * (double)signed_[r + j];                  \
        double sum = 0.0;                                                                                              \
        for (int j = 0; j < LANES; j++) sum += lanes[j];                                                               \
        for (; r < end; r++) sum += (double)grad[r] * (double)signed_[r];                                              \
        T weighted = (T)(sum * (double)main);                                                                          \
        for (r = first; r < end; r++) grad[r] = grad[r] * scale + main_slopes[r] * weighted;                           \
    }

#define SIGN_CROSSBAR_GRADIENT(T, NAME)                                                                                \
    VECTOR_CLONES int NAME(T *grad, const T *signed_, const T *main_slopes, const T *tile_scale,                       \
                           const T *main_scale, const int64_t *starts, int64_t tiles, int64_t rows,                    \
                           int64_t columns, int64_t bias_row, const T *bias_source, int64_t batch,                     \
                           int64_t batch_stride, int64_t column_stride) {                                              \
        if (tiles < 1 || starts[0] != 0 || starts[tiles] != rows) return -2;                                           \
        if (bias_row && (rows < 1 || batch < 0 || (batch > 0 && !bias_source))) return -2;                             \
        for (int64_t t = 0; t < tiles; t++)                                                                            \
            if (starts[t + 1] < starts[t]) return -2;                                                                  \
        if (bias_row) {                                                                                                \
            T *bias_sums = grad + (rows - 1) * columns;                                                                \
            for (int64_t c = 0; c < columns; c++) bias_sums[c] = 0;                                                    \
            for (int64_t n = 0; n < batch; n++) {                                                                      \
                const T *source = bias_source + n * batch_stride;                                                      \
                if (column_stride == 1)                                                                                \
                    for (int64_t c = 0; c < columns; c++) bias_sums[c] += source[c];                                   \
                else                                                                                                   \
                    for (int64_t c = 0; c < columns; c++) bias_sums[c] += source[c * column_stride];                   \
            }                                                                                                          \
        }                                                                                                              \
        if (columns == 1) {                                                                                            \
            for (int64_t t = 0; t < tiles; t++)                                                                        \
                one_column_tile_##NAME(grad, signed_, main_slopes, tile_scale[t], main_scale[t], starts[t],            \
                                        starts[t + 1]);                                                                \
            return 0;                                                                                                  \
        }                                                                                                              \
        double *sums = malloc(sizeof(double) * (size_t)(columns > 0 ? columns : 1));                                   \
        if (!sums) return -1;                                                                                          \
        for (int64_t t = 0; t < tiles; t++) {                                                                          \
            const T *scale = tile_scale + t * columns, *main = main_scale + t * columns;                               \
            for (int64_t c = 0; c < columns; c++) sums[c] = 0.0;                                                       \
            for (int64_t r = starts[t]; r < starts[t + 1]; r++) {                                                      \
                const T *g = grad + r * columns, *s = signed_ + r * columns;                                           \
                for (int64_t c = 0; c < columns; c++) sums[c] += (double)g[c] * (double)s[c];                          \
            }                                                                                                          \
            for (int64_t c = 0; c < columns; c++) sums[c] *= (double)main[c];                                          \
            for (int64_t r = starts[t]; r < starts[t + 1]; r++) {                                                      \
                T *g = grad + r * columns;                                                                             \
                const T *slope = main_slopes + r * columns;                                                            \
                for (int64_t c = 0; c < columns; c++) g[c] = g[c] * scale[c] + slope[c] * (T)sums[c];                  \
            }                                                                                                          \
        }                                                                                                              \
        free(sums);                                                                                                    \
        return 0;                                                                                                      \
    }

ONE_COLUMN_TILE(float, sign_crossbar_gradient_f32)
ONE_COLUMN_TILE(double, sign_crossbar_gradient_f64)
SIGN_CROSSBAR_GRADIENT(float, sign_crossbar_gradient_f32)
SIGN_CROSSBAR_GRADIENT(double, sign_crossbar_gradient_f64)
