package dev.medgemmafhir.engine.model;

/** Where ONNX Runtime runs the graphs. */
public enum ExecutionProvider {
    CPU,
    /** NVIDIA GPUs; needs the {@code onnxruntime_gpu} build (Maven profile {@code cuda}) and CUDA libraries. */
    CUDA
}
