/* The BLS12-381 instance of g1_curve.h (functions prefixed bls12_381_), included by g1_native.c and
 * g1_cuda.cu after g1_curve_params.h; g1_curve.h undefines these macros at its end. */
#define NL 6
#define PFX(x) bls12_381_##x
#define C_P BLS12_381_P
#define C_PINV BLS12_381_PINV
#define C_R2 BLS12_381_R2
#define C_ONE BLS12_381_ONE
#define C_B BLS12_381_B
#define C_PM2 BLS12_381_PM2
#define C_BETA BLS12_381_BETA
#define C_GLV BLS12_381_GLV
#define C_B2 BLS12_381_B2
#include "g1_curve.h"
