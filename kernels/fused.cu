// The CuPy backend's kernels. Same indexing and reductions as the Numba-CUDA kernels (see the
// sketch in kernels/numba_kernels.py). kernels/cuda_source.py puts in front of this file:
//   typedef float|double real;  N_AXES, SLAB_AXES, FRONTIER_AXES, NBINS, TILE, N_OUT, O_* (outputs),
//   S_FITS, S_MEETS, S_INVALID (status codes);  the formulas as device functions (translated
//   from kernels/formulas.py);  evaluate_config_at / config_valid_at (the generated adapters).

#ifndef INFINITY  /* NVRTC does not include math.h */
#define INFINITY __int_as_float(0x7f800000)
#endif

__device__ __forceinline__ unsigned long long fbits(real x) {
    return (unsigned long long)(unsigned int)__float_as_int((float)x);
}

__device__ __forceinline__ void flush(unsigned long long* grp_cost, unsigned long long* grp_tpj, long long g,
                                      real best_c, unsigned int best_cb, real best_t, unsigned int best_tb) {
    if (best_c < INFINITY) {
        atomicMin(&grp_cost[g], (fbits(best_c) << 32) | (unsigned long long)best_cb);
        atomicMax(&grp_tpj[g], (fbits(best_t) << 32) | (0xFFFFFFFFull - (unsigned long long)best_tb));
    }
}

extern "C" __global__ void tokenfleet_eval(
    unsigned int slab0, unsigned int n_local, long long group0, long long fg0, unsigned int fgs,
    const int* dims, const real* axv, const int* axo, const real* wm_t, const real* hw_t,
    unsigned long long* grp_cost, unsigned long long* grp_tpj, unsigned long long* front,
    unsigned long long* counts) {
    int ix[N_AXES];
    unsigned int j = (unsigned int)(blockIdx.x * blockDim.x + threadIdx.x) * TILE;
    if (j >= n_local) return;
    unsigned int j1 = j + TILE < n_local ? j + TILE : n_local;
    // mixed-radix decode of the first index: inner axes from j, slab axes from slab0 + j / slab_size
    unsigned int x = j;
    for (int a = N_AXES - 1; a >= 0; --a) {
        if (a == SLAB_AXES - 1) x += slab0;
        unsigned int d = (unsigned int)dims[a], q = x / d;
        ix[a] = (int)(x - q * d);
        x = q;
    }
    unsigned int nb = (unsigned int)dims[N_AXES - 1];
    unsigned int g = j / nb, fg = j / fgs, off = j - fg * fgs;
    real best_c = INFINITY, best_t = -INFINITY;
    unsigned int best_cb = 0, best_tb = 0, nfit = 0, nmeet = 0;
    real o[N_OUT];
    for (;;) {
        if (config_valid_at(ix, axv, axo, wm_t, hw_t) > (real)0.5) {
            evaluate_config_at(ix, axv, axo, wm_t, hw_t, o);
            int status = (int)o[O_STATUS];
            if (status >= S_FITS) {
                ++nfit;
                int bin = (int)frontier_bin(o[O_USER], (real)NBINS);
                unsigned long long key = (fbits(o[O_GPU]) << 32) | (0xFFFFFFFFull - (unsigned long long)off);
                unsigned long long* slot = &front[(fg0 + fg) * NBINS + bin];
                if (key > *slot) atomicMax(slot, key);
                if (status >= S_MEETS) {
                    ++nmeet;
                    if (o[O_COST] < best_c) { best_c = o[O_COST]; best_cb = (unsigned int)ix[N_AXES - 1]; }
                    if (o[O_TPJ] > best_t) { best_t = o[O_TPJ]; best_tb = (unsigned int)ix[N_AXES - 1]; }
                }
            }
        }
        if (++j >= j1) break;
        // odometer step; the outermost axis that changed says whether a group or frontier starts
        int a = N_AXES - 1;
        ++ix[a];
        while (a > 0 && ix[a] == dims[a]) { ix[a] = 0; --a; ++ix[a]; }
        ++off;
        if (a < N_AXES - 1) {
            flush(grp_cost, grp_tpj, group0 + g, best_c, best_cb, best_t, best_tb);
            ++g;
            best_c = INFINITY; best_t = -INFINITY;
            if (a < FRONTIER_AXES) { ++fg; off = 0; }
        }
    }
    flush(grp_cost, grp_tpj, group0 + g, best_c, best_cb, best_t, best_tb);
    if (nfit) atomicAdd(&counts[0], (unsigned long long)nfit);
    if (nmeet) atomicAdd(&counts[1], (unsigned long long)nmeet);
}

// every metric of a list of decoded configurations (axes: n rows of N_AXES indices), for parity checks
extern "C" __global__ void tokenfleet_points(const int* axes, int n, const real* axv, const int* axo,
                                             const real* wm_t, const real* hw_t, real* out) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    const int* ix = axes + (long long)N_AXES * k;
    real o[N_OUT];
    evaluate_config_at(ix, axv, axo, wm_t, hw_t, o);
    if (config_valid_at(ix, axv, axo, wm_t, hw_t) < (real)0.5) o[O_STATUS] = (real)S_INVALID;
    for (int i = 0; i < N_OUT; ++i) out[(long long)i * n + k] = o[i];
}
