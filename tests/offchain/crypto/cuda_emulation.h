/* Host emulation of the CUDA built-ins that offchain/g1_cuda.cu uses, so its kernels run on the CPU one
 * thread at a time (tests/offchain/native/test_native_cuda_emulated.py): g1_curve.h then takes its CPU
 * branch (no __CUDACC__), and each kernel body runs for the thread index set in blockIdx.x. */
#ifdef __cplusplus
extern "C" {
#endif
struct emu_dim { long long x; };
struct emu_dim blockIdx = {0}, blockDim = {1}, threadIdx = {0};
#ifdef __cplusplus
}
#endif
#define __global__
#define __launch_bounds__(...)
static inline unsigned long long atomicMin(unsigned long long *a, unsigned long long v) {
    unsigned long long old = *a;
    if (v < old) *a = v;
    return old;
}
