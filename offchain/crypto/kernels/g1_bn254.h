/* The BN254 instance of g1_curve.h (functions prefixed bn254_), included by g1_native.c and
 * g1_cuda.cu after g1_curve_params.h; g1_curve.h undefines these macros at its end. */
#define NL 4
#define PFX(x) bn254_##x
#define C_P BN254_P
#define C_PINV BN254_PINV
#define C_R2 BN254_R2
#define C_ONE BN254_ONE
#define C_B BN254_B
#define C_PM2 BN254_PM2
#define C_BETA BN254_BETA
#define C_GLV BN254_GLV
#define C_B2 BN254_B2
#include "g1_curve.h"
