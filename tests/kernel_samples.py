"""A kernel the CUDA simulator runs but the real compiler refuses: it reads an untyped global (a
dict, which Numba-CUDA cannot type). Used to show that the compile check catches such kernels."""

from numba import cuda

SCALES = dict(fp8=1.0, fp4=0.5)


def scale_kernel(out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = SCALES["fp8"]
