/* A stand-in CUDA runtime that reports one GPU (compute capability 9.0, CUDA 12.4), so that a test
 * sees what DJL does on a GPU host without one. Only the calls DJL's CudaUtils makes. */
int cudaGetDeviceCount(int *count) { *count = 1; return 0; }
int cudaRuntimeGetVersion(int *version) { *version = 12040; return 0; }
int cudaDeviceGetAttribute(int *value, int attribute, int device) { *value = attribute == 75 ? 9 : 0; return 0; }
int cudaMemGetInfo(long *free, long *total) { *free = 1L << 34; *total = 1L << 34; return 0; }
int cudaSetDevice(int device) { return 0; }
int cudaGetDevice(int *device) { *device = 0; return 0; }
const char *cudaGetErrorString(int error) { return "stand-in"; }
