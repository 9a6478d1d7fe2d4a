/* The forward and backward passes of a dense sign crossbar's fused product (`layers._SignCrossbarProduct`), each
 * one torch operator (amdcgan::sign_crossbar_forward, amdcgan::sign_crossbar_backward), so that a small layer pays
 * one call each way instead of a dozen small ops and the Python between them. Built by kernels.py with the loops of
 * kernels.c linked in; `_SignCrossbarProduct` takes its torch ops where these cannot be had, and the two must agree
 * (tests/test_kernels.py). Not differentiable: a gradient graph (create_graph) takes the layer's autograd graph. */

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cfloat>
#include <cmath>
#include <tuple>

extern "C" {
int strictly_within_f32(const float *x, int64_t n, float low, float high);
int strictly_within_f64(const double *x, int64_t n, double low, double high);
int sign_crossbar_gradient_f32(float *grad, const float *signed_, const float *main_slopes, const float *tile_scale,
                               const float *main_scale, const int64_t *starts, int64_t tiles, int64_t rows,
                               int64_t columns, const float *bias_source, int64_t batch, int64_t batch_stride,
                               int64_t column_stride);
int sign_crossbar_gradient_f64(double *grad, const double *signed_, const double *main_slopes,
                               const double *tile_scale, const double *main_scale, const int64_t *starts,
                               int64_t tiles, int64_t rows, int64_t columns, const double *bias_source, int64_t batch,
                               int64_t batch_stride, int64_t column_stride);
}

namespace {

void check_on_cpu(const at::Tensor &tensor, at::ScalarType dtype, const char *name) {
    TORCH_CHECK(tensor.device().is_cpu() && tensor.scalar_type() == dtype && tensor.is_contiguous(), name,
                ": expected a contiguous CPU tensor of ", dtype);
}

/* `value` as the nearest float32 on the side of `direction` (+-infinity): beyond float32's range, the infinity. */
float rounded_toward(double value, float direction) {
    if (value > FLT_MAX) return direction > 0 ? INFINITY : FLT_MAX;
    if (value < -FLT_MAX) return direction < 0 ? -INFINITY : -FLT_MAX;
    float nearest = float(value);
    if (direction < 0 ? double(nearest) > value : double(nearest) < value) nearest = std::nextafter(nearest, direction);
    return nearest;
}

/* Whether every value lies strictly between low and high. For float32 values the bounds are rounded outward to
 * float32, so that comparing in float32 answers as exact arithmetic (as `kernels.strictly_within`). */
bool strictly_within(const at::Tensor &values, double low, double high) {
    if (values.scalar_type() == at::kDouble)
        return strictly_within_f64(values.data_ptr<double>(), values.numel(), low, high);
    return strictly_within_f32(values.data_ptr<float>(), values.numel(), rounded_toward(low, -INFINITY),
                               rounded_toward(high, INFINITY));
}

/* y = x E for rows x (batch, inputs) and the effective matrix E (inputs [+ 1 bias row driven at 1 unit], columns),
 * or `product` where formed already; with whether every y lies strictly within (low, high), asked where `check`. */
std::tuple<at::Tensor, bool> sign_crossbar_forward(const at::Tensor &rows, const at::Tensor &matrix, bool bias,
                                                   const std::optional<at::Tensor> &product, bool check, double low,
                                                   double high) {
    const auto dtype = matrix.scalar_type();
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "sign_crossbar_forward: float32 or float64 only");
    check_on_cpu(matrix, dtype, "matrix");
    TORCH_CHECK(rows.dim() == 2 && rows.device().is_cpu() && rows.scalar_type() == dtype, "rows: a CPU matrix");
    const int64_t inputs = matrix.size(0) - int64_t(bias);
    TORCH_CHECK(rows.size(1) == inputs, "rows: ", rows.size(1), " inputs for a matrix of ", inputs);
    at::Tensor out;
    if (product.has_value()) {
        out = *product;
        check_on_cpu(out, dtype, "product");
        TORCH_CHECK(out.dim() == 2 && out.size(0) == rows.size(0) && out.size(1) == matrix.size(1), "product: shape");
    } else {
        const auto body = matrix.narrow(0, 0, inputs);
        out = bias ? at::addmm(matrix.select(0, inputs), rows, body) : at::mm(rows, body);
    }
    return {out, !check || strictly_within(out, low, high)};
}

/* dL/dx (where `rows_grad`) and dL/dw of y = x E from dL/dy, `grad`: dL/dE = x^T g with the bias row's column sums
 * of g, then `kernels.c`'s loop in its memory (`kernels.GradientFactors` gives the other tensors). */
std::tuple<at::Tensor, at::Tensor> sign_crossbar_backward(const at::Tensor &grad, const at::Tensor &rows,
                                                          const at::Tensor &matrix, bool bias, bool rows_grad,
                                                          const at::Tensor &signed_, const at::Tensor &main_slopes,
                                                          const at::Tensor &tile_scale, const at::Tensor &main_scale,
                                                          const at::Tensor &starts) {
    const auto dtype = matrix.scalar_type();
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "sign_crossbar_backward: float32 or float64 only");
    for (const auto &[tensor, name] : {std::pair{&matrix, "matrix"}, {&signed_, "signed"},
                                       {&main_slopes, "main_slopes"}, {&tile_scale, "tile_scale"},
                                       {&main_scale, "main_scale"}})
        check_on_cpu(*tensor, dtype, name);
    check_on_cpu(starts, at::kLong, "starts");
    const int64_t matrix_rows = matrix.size(0), columns = matrix.size(1), inputs = matrix_rows - int64_t(bias);
    const int64_t tiles = starts.numel() - 1;
    TORCH_CHECK(matrix.dim() == 2 && signed_.sizes() == matrix.sizes() && main_slopes.sizes() == matrix.sizes(),
                "signed and main_slopes: the matrix's shape");
    TORCH_CHECK(tiles >= 1 && tile_scale.dim() == 2 && tile_scale.size(0) == tiles && tile_scale.size(1) == columns &&
                    main_scale.sizes() == tile_scale.sizes(),
                "tile_scale and main_scale: (tiles, columns)");
    TORCH_CHECK(grad.dim() == 2 && grad.device().is_cpu() && grad.scalar_type() == dtype && grad.size(1) == columns,
                "grad: a CPU (batch, columns) matrix");
    TORCH_CHECK(rows.dim() == 2 && rows.device().is_cpu() && rows.scalar_type() == dtype &&
                    rows.size(0) == grad.size(0) && rows.size(1) == inputs,
                "rows: a CPU (batch, inputs) matrix");
    const auto body = matrix.narrow(0, 0, inputs);
    at::Tensor grad_rows = rows_grad ? at::mm(grad, body.t()) : at::Tensor();
    auto grad_matrix = at::empty({matrix_rows, columns}, matrix.options());
    auto top = grad_matrix.narrow(0, 0, inputs);
    at::mm_out(top, rows.t(), grad);
    int status;
    if (dtype == at::kFloat)
        status = sign_crossbar_gradient_f32(grad_matrix.data_ptr<float>(), signed_.data_ptr<float>(),
                                            main_slopes.data_ptr<float>(), tile_scale.data_ptr<float>(),
                                            main_scale.data_ptr<float>(), starts.data_ptr<int64_t>(), tiles,
                                            matrix_rows, columns, bias ? grad.data_ptr<float>() : nullptr,
                                            grad.size(0), grad.stride(0), grad.stride(1));
    else
        status = sign_crossbar_gradient_f64(grad_matrix.data_ptr<double>(), signed_.data_ptr<double>(),
                                            main_slopes.data_ptr<double>(), tile_scale.data_ptr<double>(),
                                            main_scale.data_ptr<double>(), starts.data_ptr<int64_t>(), tiles,
                                            matrix_rows, columns, bias ? grad.data_ptr<double>() : nullptr,
                                            grad.size(0), grad.stride(0), grad.stride(1));
    TORCH_CHECK(status != -2, "row tiles that do not cover rows 0 to ", matrix_rows - 1, " in order");
    TORCH_CHECK(status == 0, "the sign crossbar's gradient loop could not allocate its scratch row");
    return {grad_rows, grad_matrix};
}

}  // namespace

TORCH_LIBRARY(amdcgan, library) {
    library.def("sign_crossbar_forward(Tensor rows, Tensor matrix, bool bias, Tensor? product, bool check, "
                "float low, float high) -> (Tensor, bool)");
    library.def("sign_crossbar_backward(Tensor grad, Tensor rows, Tensor matrix, bool bias, bool rows_grad, "
                "Tensor signed, Tensor main_slopes, Tensor tile_scale, Tensor main_scale, Tensor starts) "
                "-> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(amdcgan, CPU, library) {
    library.impl("sign_crossbar_forward", &sign_crossbar_forward);
    library.impl("sign_crossbar_backward", &sign_crossbar_backward);
}

/* Called only where no graph is recorded (a Function's passes): past autograd's dispatch, not through its fallback. */
TORCH_LIBRARY_IMPL(amdcgan, Autograd, library) {
    library.impl("sign_crossbar_forward", torch::CppFunction::makeFallthrough());
    library.impl("sign_crossbar_backward", torch::CppFunction::makeFallthrough());
}
