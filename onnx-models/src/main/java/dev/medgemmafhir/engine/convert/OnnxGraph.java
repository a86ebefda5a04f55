package dev.medgemmafhir.engine.convert;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A small writer of ONNX graphs: typed inputs/outputs with symbolic dims, nodes with attributes,
 * and initializers that go either inline or, when an external data file is given, into that file
 * as they are produced (so weights of any size never sit in memory).
 */
public final class OnnxGraph implements AutoCloseable {

    public static final int OPSET = 17;
    public static final String MICROSOFT_DOMAIN = "com.microsoft";
    /** Initializers this large go to the external data file, as onnx's own converter does by default. */
    static final long EXTERNAL_THRESHOLD_BYTES = 1024;

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    /** Where nodes go: the main graph, or the branch of an {@code If} being built. */
    private GraphProto.Builder nodes = graph;
    private final Path externalDataFile;
    private final FileChannel externalData;
    private long externalOffset;
    private int nextId;
    private boolean usesMicrosoftDomain;

    /**
     * @param name             graph name
     * @param externalDataFile where large initializers go, or null to keep every weight inline
     */
    public OnnxGraph(String name, Path externalDataFile) throws IOException {
        graph.setName(name);
        this.externalDataFile = externalDataFile;
        this.externalData = externalDataFile == null ? null : FileChannel.open(externalDataFile,
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
    }

    /** A graph input; each dim is a Number (fixed) or a String (symbolic, e.g. "batch_size"). */
    public String input(String name, int elemType, Object... dims) {
        graph.addInput(valueInfo(name, elemType, dims));
        return name;
    }

    /** Declares an existing value as a graph output. */
    public void output(String name, int elemType, Object... dims) {
        graph.addOutput(valueInfo(name, elemType, dims));
    }

    /** Adds a node with one output named after the op, returning that output's name. */
    public String op(String opType, String[] inputs, AttributeProto... attributes) {
        return opNamed(opType, opType.toLowerCase() + "_" + (nextId++), inputs, attributes);
    }

    /** Adds a node whose single output has a fixed name, e.g. a graph output like {@code logits}. */
    public String opNamed(String opType, String output, String[] inputs, AttributeProto... attributes) {
        node("", opType, output, inputs, attributes);
        return output;
    }

    /** Adds a {@code com.microsoft} contrib node. */
    public String microsoftOp(String opType, String[] inputs, AttributeProto... attributes) {
        usesMicrosoftDomain = true;
        String output = opType.toLowerCase() + "_" + (nextId++);
        node(MICROSOFT_DOMAIN, opType, output, inputs, attributes);
        return output;
    }

    /**
     * Adds a node with several outputs; {@code outputs} holds the names (an empty string for an
     * optional output not wanted).
     */
    public void multiOutputOp(String domain, String opType, String[] outputs, String[] inputs, AttributeProto... attributes) {
        if (domain.equals(MICROSOFT_DOMAIN)) {
            usesMicrosoftDomain = true;
        }
        node(domain, opType, outputs, inputs, attributes);
    }

    /** A fresh value name for a node output, unique in this graph. */
    public String fresh(String prefix) {
        return prefix + "_" + (nextId++);
    }

    /**
     * Starts an {@code If} branch: nodes added until {@link #endBranch} go into it. Branches see
     * every value of the enclosing graph (initializers stay in the main graph).
     */
    public GraphProto.Builder beginBranch(String name) {
        if (nodes != graph) {
            throw new IllegalStateException("branches do not nest here");
        }
        nodes = GraphProto.newBuilder().setName(name);
        return nodes;
    }

    /** Ends the branch, declaring {@code outputs} (float tensors of any shape) as its results. */
    public GraphProto endBranch(String... outputs) {
        GraphProto.Builder branch = nodes;
        nodes = graph;
        for (String out : outputs) {
            branch.addOutput(ValueInfoProto.newBuilder().setName(out).setType(TypeProto.newBuilder()
                    .setTensorType(TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))));
        }
        return branch.build();
    }

    public static AttributeProto graphAttr(String name, GraphProto value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.GRAPH).setG(value).build();
    }

    private void node(String domain, String opType, String output, String[] inputs, AttributeProto... attributes) {
        node(domain, opType, new String[] {output}, inputs, attributes);
    }

    private void node(String domain, String opType, String[] outputs, String[] inputs, AttributeProto... attributes) {
        NodeProto.Builder node = NodeProto.newBuilder()
                .setName("/" + opType + "_" + (nextId++))
                .setOpType(opType);
        for (String out : outputs) {
            node.addOutput(out);
        }
        if (!domain.isEmpty()) {
            node.setDomain(domain);
        }
        for (String in : inputs) {
            node.addInput(in);
        }
        for (AttributeProto a : attributes) {
            node.addAttribute(a);
        }
        nodes.addNode(node);
    }

    /** Adds an initializer; large ones stream to the external data file when there is one. */
    public String initializer(String name, TensorData data) throws IOException {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(data.dataType());
        for (long d : data.dims()) {
            t.addDims(d);
        }
        long length = data.byteLength();
        if (externalData != null && length >= EXTERNAL_THRESHOLD_BYTES) {
            long offset = externalOffset;
            data.writeTo(bytes -> {
                while (bytes.hasRemaining()) {
                    externalOffset += externalData.write(bytes);
                }
            });
            if (externalOffset - offset != length) {
                throw new IllegalStateException(name + ": wrote " + (externalOffset - offset) + " bytes, expected " + length);
            }
            t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", externalDataFile.getFileName().toString()))
                    .addExternalData(entry("offset", Long.toString(offset)))
                    .addExternalData(entry("length", Long.toString(length)));
        } else {
            ByteString.Output raw = ByteString.newOutput((int) length);
            data.writeTo(bytes -> raw.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining()));
            t.setRawData(raw.toByteString());
        }
        graph.addInitializer(t);
        return name;
    }

    /** An int64 1-D constant such as a Reshape shape or Unsqueeze axes. */
    public String int64s(long... values) throws IOException {
        return initializer("const_i64_" + (nextId++), ConstantTensor.int64(new long[] {values.length}, values));
    }

    /** An int64 scalar constant. */
    public String int64Scalar(long value) throws IOException {
        return initializer("const_i64_" + (nextId++), ConstantTensor.int64(new long[0], value));
    }

    /** A float scalar constant. */
    public String floatScalar(float value) throws IOException {
        return initializer("const_f32_" + (nextId++), ConstantTensor.floats(new long[0], value));
    }

    public static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    public static AttributeProto floatAttr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value).build();
    }

    public static AttributeProto intsAttr(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    /** Writes the model to a file; closes the external data file first so both are complete. */
    public void save(Path onnxFile, String docString) throws IOException {
        save(onnxFile, docString, "medgemma-fhir");
    }

    /** As {@link #save(Path, String)}, naming the program that produced the graph. */
    public void save(Path onnxFile, String docString, String producer) throws IOException {
        close();
        ModelProto.Builder model = ModelProto.newBuilder()
                .setIrVersion(8)
                .setProducerName(producer)
                .setProducerVersion("1")
                .setDocString(docString)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET));
        if (usesMicrosoftDomain) {
            model.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(MICROSOFT_DOMAIN).setVersion(1));
        }
        model.setGraph(graph);
        try (OutputStream out = Files.newOutputStream(onnxFile)) {
            model.build().writeTo(out);
        }
    }

    @Override
    public void close() throws IOException {
        if (externalData != null && externalData.isOpen()) {
            externalData.close();
        }
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    private static ValueInfoProto valueInfo(String name, int elemType, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof Number number) {
                dim.setDimValue(number.longValue());
            } else {
                dim.setDimParam(d.toString());
            }
            shape.addDim(dim);
        }
        TypeProto type = TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))
                .build();
        return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }
}
