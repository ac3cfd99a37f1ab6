import Foundation
import HDF5
import RecastCore
import Testing

/// Layout detection on files built with h5py the way Keras, transformers and others build them.
@Suite("HDF5 layout detection")
struct LayoutTests {
    /// Python that writes one file per layout into the directory argv[1].
    static let script = #"""
import sys, os, json, h5py, numpy as np
d = sys.argv[1]
S = lambda names: np.array([n.encode("utf8") for n in names])  # Keras: fixed-length bytes

def keras2_layers(g, prefix=""):
    g.attrs["layer_names"] = S(["conv", "flatten", "dense"])
    conv = g.create_group("conv"); conv.attrs["weight_names"] = S(["conv/kernel:0", "conv/bias:0"])
    conv["conv/kernel:0"] = np.ones((3, 3, 1, 2), "<f4"); conv["conv/bias:0"] = np.zeros(2, "<f4")
    flat = g.create_group("flatten"); flat.attrs["weight_names"] = np.array([], dtype=np.float64)
    dense = g.create_group("dense"); dense.attrs["weight_names"] = S(["dense/kernel:0", "dense/bias:0"])
    dense["dense/kernel:0"] = np.ones((4, 2), "<f4"); dense["dense/bias:0"] = np.zeros(2, "<f4")

with h5py.File(os.path.join(d, "keras2.h5"), "w") as f:
    f.attrs["backend"] = b"tensorflow"; f.attrs["keras_version"] = b"2.15.0"
    keras2_layers(f)

with h5py.File(os.path.join(d, "keras2_split.h5"), "w") as f:
    # save_attributes_to_hdf5_group splits attributes beyond 64 KiB into name0, name1, ...
    f.attrs["layer_names0"] = S(["a"]); f.attrs["layer_names1"] = S(["b"])
    for n in ("a", "b"):
        g = f.create_group(n); g.attrs["weight_names"] = S([n + "/w:0"]); g[n + "/w:0"] = np.ones(2, "<f4")

with h5py.File(os.path.join(d, "hf.h5"), "w") as f:
    f.attrs["backend"] = b"tensorflow"; f.attrs["keras_version"] = b"2.15.0"
    f.attrs["layer_names"] = S(["bert"])
    g = f.create_group("bert")
    names = ["tf_bert_model/bert/embeddings/word_embeddings/weight:0",
             "tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0"]
    g.attrs["weight_names"] = np.array(names, dtype=h5py.string_dtype())  # variable-length strings
    for n in names: g[n] = np.ones((2, 2), "<f4")

with h5py.File(os.path.join(d, "hf_sharded.h5"), "w") as f:
    # transformers' sharded tf_model-0000k-of-0000n.h5: layer_names lists the weights, no weight_names.
    names = ["bert/embeddings/word_embeddings/weight:0", "bert/pooler/dense/bias:0"]
    for n in names: f[n] = np.ones(2, "<f4")
    f.attrs["layer_names"] = S(names)

with h5py.File(os.path.join(d, "legacy.h5"), "w") as f:
    f.attrs["model_config"] = json.dumps({"class_name": "Sequential"}).encode()
    f.attrs["keras_version"] = "2.15.0"; f.attrs["backend"] = "tensorflow"
    mw = f.create_group("model_weights")
    mw.attrs["backend"] = b"tensorflow"; mw.attrs["keras_version"] = b"2.15.0"
    keras2_layers(mw)
    f.create_group("optimizer_weights")

with h5py.File(os.path.join(d, "keras3.weights.h5"), "w") as f:
    f.create_group("vars")
    for layer in ("dense", "dense_1"):
        v = f.create_group("layers/" + layer + "/vars")
        v["0"] = np.ones((4, 2), "<f4"); v["1"] = np.zeros(2, "<f4")
    f.create_group("optimizer/vars")["0"] = np.int64(3)

with h5py.File(os.path.join(d, "generic.h5"), "w") as f:
    f["weights/w"] = np.ones(3, "<f4"); f["layers/x"] = np.ones(1, "<f4")
"""#

    static func makeFiles() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        try python(script, [dir.path])
        return dir
    }

    @Test("Keras 2 save_weights")
    func keras2() throws {
        let dir = try Self.makeFiles()
        let store = try HDF5Store(path: dir.file("keras2.h5"))
        #expect(store.layout == "keras2")
        #expect(store.tensors.map(\.name) == ["conv/conv/bias:0", "conv/conv/kernel:0", "dense/dense/bias:0", "dense/dense/kernel:0"])
        #expect(store.info(named: "conv/conv/kernel:0")?.shape == [3, 3, 1, 2])
        #expect(store.metadata.map(\.key) == ["backend", "keras_version"])
        #expect(store.metadata.map(\.value) == ["tensorflow", "2.15.0"])
        #expect(try HDF5Store(path: dir.file("keras2_split.h5")).layout == "keras2")
    }

    @Test("Hugging Face tf_model.h5, whole and sharded")
    func huggingFace() throws {
        let dir = try Self.makeFiles()
        let store = try HDF5Store(path: dir.file("hf.h5"))
        #expect(store.layout == "hf-tensorflow")
        #expect(store.tensors.map(\.name) == [
            "bert/tf_bert_model/bert/embeddings/word_embeddings/weight:0",
            "bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0",
        ])
        let sharded = try HDF5Store(path: dir.file("hf_sharded.h5"))
        #expect(sharded.layout == "hf-tensorflow")
        #expect(sharded.tensors.count == 2)
    }

    @Test("Keras legacy full-model file")
    func legacy() throws {
        let dir = try Self.makeFiles()
        let store = try HDF5Store(path: dir.file("legacy.h5"))
        #expect(store.layout == "keras-legacy")
        #expect(store.tensors.count == 4)
        #expect(store.tensors.allSatisfy { $0.name.hasPrefix("model_weights/") })
        #expect(store.metadata.map(\.key) == ["backend", "keras_version", "model_config"])
        #expect(store.metadata.first { $0.key == "model_config" }?.value == #"{"class_name": "Sequential"}"#)
    }

    @Test("Keras 3 .weights.h5")
    func keras3() throws {
        let dir = try Self.makeFiles()
        let store = try HDF5Store(path: dir.file("keras3.weights.h5"))
        #expect(store.layout == "keras3")
        #expect(store.tensors.map(\.name) == [
            "layers/dense/vars/0", "layers/dense/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1", "optimizer/vars/0",
        ])
        #expect(store.info(named: "optimizer/vars/0")?.shape == [])
        #expect(store.info(named: "optimizer/vars/0")?.dtype == .i64)
    }

    @Test("anything else is generic")
    func generic() throws {
        let dir = try Self.makeFiles()
        #expect(try HDF5Store(path: dir.file("generic.h5")).layout == "generic")
    }

    @Test("every layout name is one the TensorStore protocol documents")
    func names() {
        #expect(HDF5Layout.allCases.map(\.rawValue).sorted() == ["generic", "hf-tensorflow", "keras-legacy", "keras2", "keras3"])
    }
}
