/* A dense sign crossbar's fused product (`layers.CrossbarLayer`'s fast path on the CPU) as one torch operator with its
 * own autograd node, amdcgan::sign_crossbar_product: y = x E, and in its backward dL/dx and dL/dw, so that a small
 * layer pays one call each way and no Python in between. Built by kernels.py with the loops of kernels.c linked in;
 * where it cannot be had, `layers._SignCrossbarProduct` computes the same with torch's ops, and the two must agree
 * (tests/test_kernels.py). A gradient graph (create_graph, a WGAN-GP penalty) is asked of the layer's own autograd
 * graph, through amdcgan::product_graph_gradients, which kernels.py implements in Python. */

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

extern "C" {
int sign_crossbar_gradient_f32(float *grad, const float *signed_, const float *main_slopes, const float *tile_scale,
                               const float *main_scale, const int64_t *starts, int64_t tiles, int64_t rows,
                               int64_t columns, int64_t bias_row, const float *bias_source, int64_t batch,
                               int64_t batch_stride, int64_t column_stride);
int sign_crossbar_gradient_f64(double *grad, const double *signed_, const double *main_slopes,
                               const double *tile_scale, const double *main_scale, const int64_t *starts,
                               int64_t tiles, int64_t rows, int64_t columns, int64_t bias_row,
                               const double *bias_source, int64_t batch, int64_t batch_stride,
                               int64_t column_stride);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_on_cpu(const at::Tensor &tensor, at::ScalarType dtype, const char *name) {
    TORCH_CHECK(tensor.device().is_cpu() && tensor.scalar_type() == dtype && tensor.is_contiguous(), name,
                ": expected a contiguous CPU tensor of ", dtype);
}

/* The fixed factors of the weight gradient (`kernels.GradientFactors`) and `main_slopes` against the matrix. */
void check_factors(const at::Tensor &matrix, const at::Tensor &signed_, const at::Tensor &main_slopes,
                   const at::Tensor &tile_scale, const at::Tensor &main_scale, const at::Tensor &starts) {
    const auto dtype = matrix.scalar_type();
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "sign_crossbar_product: float32 or float64 only");
    for (const auto &[tensor, name] : {std::pair{&matrix, "matrix"}, {&signed_, "signed"},
                                       {&main_slopes, "main_slopes"}, {&tile_scale, "tile_scale"},
                                       {&main_scale, "main_scale"}})
        check_on_cpu(*tensor, dtype, name);
    check_on_cpu(starts, at::kLong, "starts");
    TORCH_CHECK(matrix.dim() == 2 && signed_.sizes() == matrix.sizes() && main_slopes.sizes() == matrix.sizes(),
                "signed and main_slopes: the matrix's shape");
    TORCH_CHECK(starts.numel() >= 2 && tile_scale.dim() == 2 && tile_scale.size(0) == starts.numel() - 1 &&
                    tile_scale.size(1) == matrix.size(1) && main_scale.sizes() == tile_scale.sizes(),
                "tile_scale and main_scale: (tiles, columns)");
}

/* y = x E for rows x (batch, inputs) and the effective matrix E (inputs [+ 1 bias row driven at 1 unit], columns),
 * or `product` where formed already (a one-column layer's, in the pass that checked its inputs). */
at::Tensor product_of(const at::Tensor &rows, const at::Tensor &matrix, bool bias,
                      const std::optional<at::Tensor> &product) {
    const auto dtype = matrix.scalar_type();
    TORCH_CHECK(rows.dim() == 2 && rows.device().is_cpu() && rows.scalar_type() == dtype, "rows: a CPU matrix of ",
                dtype);
    const int64_t inputs = matrix.size(0) - int64_t(bias);
    TORCH_CHECK(rows.size(1) == inputs, "rows: ", rows.size(1), " inputs for a matrix of ", inputs);
    if (product.has_value()) {
        check_on_cpu(*product, dtype, "product");
        TORCH_CHECK(product->dim() == 2 && product->size(0) == rows.size(0) && product->size(1) == matrix.size(1),
                    "product: (batch, columns)");
        return product->clone();  // (the node's own output, not an alias of an input)
    }
    const auto body = matrix.narrow(0, 0, inputs);
    return bias ? at::addmm(matrix.select(0, inputs), rows, body) : at::mm(rows, body);
}

/* dL/dx (where `rows_grad`) and dL/dw of y = x E from dL/dy, `grad`: dL/dE = x^T g with the bias row's column sums
 * of g, then `kernels.c`'s loop in its memory. */
std::tuple<at::Tensor, at::Tensor> gradients(const at::Tensor &grad, const at::Tensor &rows, const at::Tensor &matrix,
                                             bool bias, bool rows_grad, const at::Tensor &signed_,
                                             const at::Tensor &main_slopes, const at::Tensor &tile_scale,
                                             const at::Tensor &main_scale, const at::Tensor &starts) {
    const auto dtype = matrix.scalar_type();
    const int64_t matrix_rows = matrix.size(0), columns = matrix.size(1), inputs = matrix_rows - int64_t(bias);
    TORCH_CHECK(grad.dim() == 2 && grad.device().is_cpu() && grad.scalar_type() == dtype && grad.size(1) == columns &&
                    grad.size(0) == rows.size(0),
                "grad: a CPU (batch, columns) matrix");
    const auto body = matrix.narrow(0, 0, inputs);
    at::Tensor grad_rows = rows_grad ? at::mm(grad, body.t()) : at::Tensor();
    auto grad_matrix = at::empty({matrix_rows, columns}, matrix.options());
    auto top = grad_matrix.narrow(0, 0, inputs);
    at::mm_out(top, rows.t(), grad);
    const int64_t tiles = starts.numel() - 1;
    int status;
    if (dtype == at::kFloat)
        status = sign_crossbar_gradient_f32(grad_matrix.data_ptr<float>(), signed_.data_ptr<float>(),
                                            main_slopes.data_ptr<float>(), tile_scale.data_ptr<float>(),
                                            main_scale.data_ptr<float>(), starts.data_ptr<int64_t>(), tiles,
                                            matrix_rows, columns, bias, bias ? grad.data_ptr<float>() : nullptr,
                                            grad.size(0), grad.stride(0), grad.stride(1));
    else
        status = sign_crossbar_gradient_f64(grad_matrix.data_ptr<double>(), signed_.data_ptr<double>(),
                                            main_slopes.data_ptr<double>(), tile_scale.data_ptr<double>(),
                                            main_scale.data_ptr<double>(), starts.data_ptr<int64_t>(), tiles,
                                            matrix_rows, columns, bias, bias ? grad.data_ptr<double>() : nullptr,
                                            grad.size(0), grad.stride(0), grad.stride(1));
    TORCH_CHECK(status != -2, "row tiles that do not cover rows 0 to ", matrix_rows - 1, " in order");
    TORCH_CHECK(status == 0, "the sign crossbar's gradient loop could not allocate its scratch row");
    return {grad_rows, grad_matrix};
}

/* The node: its value from `matrix` (the devices as they read), its gradient for `weight` through the continuous
 * encoding's slopes (`layers._SignCrossbarSlopes`). `layer` names the layer to `product_graph_gradients`. */
struct SignCrossbarProduct : public torch::autograd::Function<SignCrossbarProduct> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &rows, const at::Tensor &weight,
                              const at::Tensor &matrix, const std::optional<at::Tensor> &product,
                              const at::Tensor &signed_, const at::Tensor &main_slopes, const at::Tensor &tile_scale,
                              const at::Tensor &main_scale, const at::Tensor &starts, bool bias, int64_t layer) {
        check_factors(matrix, signed_, main_slopes, tile_scale, main_scale, starts);
        TORCH_CHECK(weight.sizes() == matrix.sizes(), "weight: the matrix's shape");
        ctx->save_for_backward({rows, weight, matrix, signed_, main_slopes, tile_scale, main_scale, starts});
        ctx->saved_data["bias"] = bias;
        ctx->saved_data["layer"] = layer;
        return product_of(rows, matrix, bias, product);
    }

    static variable_list backward(AutogradContext *ctx, variable_list grad_outputs) {
        const auto saved = ctx->get_saved_variables();
        const auto &rows = saved[0], &weight = saved[1];
        variable_list result(11);
        if (at::GradMode::is_enabled()) {  // a graph of the gradients: the layer's own, asked of Python
            static const auto graph_gradients =
                c10::Dispatcher::singleton()
                    .findSchemaOrThrow("amdcgan::product_graph_gradients", "")
                    .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor &, const at::Tensor &,
                                                              const at::Tensor &, int64_t)>();
            auto [grad_rows, grad_weight] =
                graph_gradients.call(grad_outputs[0], rows, weight, ctx->saved_data["layer"].toInt());
            result[0] = ctx->needs_input_grad(0) ? grad_rows : at::Tensor();
            result[1] = grad_weight;
            return result;
        }
        std::tie(result[0], result[1]) =
            gradients(grad_outputs[0], rows, saved[2], ctx->saved_data["bias"].toBool(), ctx->needs_input_grad(0),
                      saved[3], saved[4], saved[5], saved[6], saved[7]);
        return result;
    }
};

at::Tensor sign_crossbar_product(const at::Tensor &rows, const at::Tensor &weight, const at::Tensor &matrix,
                                 const std::optional<at::Tensor> &product, const at::Tensor &signed_,
                                 const at::Tensor &main_slopes, const at::Tensor &tile_scale,
                                 const at::Tensor &main_scale, const at::Tensor &starts, bool bias, int64_t layer) {
    return SignCrossbarProduct::apply(rows, weight, matrix, product, signed_, main_slopes, tile_scale, main_scale,
                                      starts, bias, layer);
}

}  // namespace

TORCH_LIBRARY(amdcgan, library) {
    library.def("sign_crossbar_product(Tensor rows, Tensor weight, Tensor matrix, Tensor? product, Tensor signed, "
                "Tensor main_slopes, Tensor tile_scale, Tensor main_scale, Tensor starts, bool bias, int layer) "
                "-> Tensor");
    library.def("product_graph_gradients(Tensor grad, Tensor rows, Tensor weight, int layer) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(amdcgan, Autograd, library) {
    library.impl("sign_crossbar_product", &sign_crossbar_product);
}
