import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Inputs that crashed, hung or tripped AddressSanitizer in the fuzz targets of `Fuzz/` (run with
// `bash tools/fuzz.sh`), or that were found while writing those targets and confirmed with them. Each
// test replays its input from `Inputs/<target>/` in a child process (an exit test), the way the target
// reads it, and requires a clean thrown error: a crash or a hang fails the test without taking the
// test run down with it.
//
// A bug whose fix is still to come is marked `withKnownIssue`. When the fix lands the test reports
// "Known issue was not recorded": delete the marker then, and the test guards the fix.

@Suite struct SafeTensorsHeaderRegressions {
    /// A zero-size tensor whose `data_offsets` begin near `Int.max` (an 89-byte header): the validator
    /// reported the hole before it at file offset `dataStart + begin`, which overflowed.
    /// Fixed in 96ef6e7 (`validateOffsets` leaves out an offset that does not fit).
    @Test func holeAtAnOffsetNearIntMaxIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.safetensorsHeader("safetensors-header/hole-offset-overflow.safetensors"))
        }
    }
}

@Suite struct GGUFHeaderRegressions {
    /// A tensor of dimensions [0, 2^63 - 1, 2] (fuzz-gguf, within minutes): no elements in GGUF's
    /// innermost-first order, so the header accepted it, but its shape outermost first, [2, 2^63 - 1, 0],
    /// overflows when multiplied out, and the store's `TensorInfo` disagreed with its own dtype and shape.
    /// Fixed in GGUFCursor.readTensorInfo (the product of the non-zero dimensions must not overflow).
    @Test func zeroDimensionThatHidesAnOverflowIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.gguf("gguf/zero-dimension-hides-overflow.gguf"))
        }
    }

    /// Three tensors: `a` at [0, 64), the empty `b` at 32, and `c` at [32, 64) inside `a` (found reading
    /// the validator, confirmed with fuzz-gguf, whose invariant catches it). The validator
    /// compared each tensor only with the one before it in offset order, and the empty `b` between them
    /// hid the overlap. Fixed in GGUFHeader.validateData (empty tensors are left out of the comparison).
    @Test func overlapBehindAnEmptyTensorIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.gguf("gguf/overlap-behind-empty-tensor.gguf"))
        }
    }
}

@Suite struct ConfigGraphRegressions {
    /// `n_embd` 2^62: GPT-2's default `n_inner` of `4 * e` overflowed (computed even when `n_inner`
    /// is given). Fixed in 96ef6e7 (config sizes above 2^31 are refused).
    @Test func gpt2EmbeddingSizeThatOverflowsIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.configGraph("config-graph/gpt2-n-embd-overflow.json"))
        }
    }

    /// `head_dim` 2^62 with 4 heads: Llama's `heads * d` overflowed. Fixed in 96ef6e7.
    @Test func llamaHeadDimThatOverflowsIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.configGraph("config-graph/llama-head-dim-overflow.json"))
        }
    }

    /// A RoBERTa config with `pad_token_id` Int.max: the position offset `pad_token_id + 1` overflowed.
    /// Fixed in 96ef6e7.
    @Test func robertaPadTokenThatOverflowsIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.configGraph("config-graph/roberta-pad-token-overflow.json"))
        }
    }

    /// `n_layer` 100,000,000 against 2-layer checkpoints: the builder described every layer and recorded
    /// every missing tensor, for minutes and gigabytes (the fuzz target's 10 s time-out; here the child
    /// is stopped after 10 s). Fixed in 96ef6e7 (`GraphBuilder.layers` bounds the count by the checkpoint).
    @Test func layerCountFarBeyondTheCheckpointIsRefusedQuickly() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.configGraph("config-graph/gpt2-hundred-million-layers.json"))
        }
    }

    /// A BERT config with `type_vocab_size` Int.min: the bound added in 96ef6e7, `abs(i) <= largest` in
    /// `ConfigReader.int`, trapped on `abs(Int.min)` (fuzz-config-graph found it within minutes).
    /// Fixed in 3f2399d (compares magnitudes).
    @Test func integerKeyOfIntMinIsRefused() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.configGraph("config-graph/bert-type-vocab-int-min.json"))
        }
    }
}

/// Files on which libhdf5 1.10.8 crashed, overflowed or hung when Recast still read HDF5 through it
/// (the faults were inside the C library). Recast's own reader (`Sources/HDF5/Format`) must end each
/// of them in a clean error or a partial listing.
@Suite struct HDF5ReaderRegressions {
    /// fuzz-hdf5 (issue 9's run): a dataset of 0 elements that keeps allocated contiguous storage was
    /// streamed as one empty piece. Fixed with `HDF5Store.streamBytes` handing out no piece for an
    /// empty tensor.
    @Test func emptyDatasetIsStreamedAsNoPiece() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/empty-dataset-streamed-as-an-empty-piece.h5"))
        }
    }

    /// The same, found again in that run through an opaque dataset with a `dtype` attribute.
    @Test func emptyOpaqueDatasetIsStreamedAsNoPiece() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/empty-opaque-dataset-streamed-as-an-empty-piece.h5"))
        }
    }

    /// `H5Literate` in increasing name order over a damaged dense group: `H5G__dense_build_table` fails
    /// half way and `H5G__link_release_table` frees the names of entries it never filled (a free of
    /// uninitialised heap memory; it faulted once the heap held garbage).
    @Test func linkIterationOverADamagedDenseGroup() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/link-iteration-frees-uninitialised.h5"))
        }
    }

    /// `H5Aread` of a variable-length string attribute whose global heap collection is damaged:
    /// `H5HG_read` copies an object with overlapping or out-of-bounds ranges.
    @Test func variableLengthAttributeWithADamagedGlobalHeap() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/vlen-attribute-global-heap-overflow.h5"))
        }
    }

    /// `H5Aread` of the scalar string attribute `description` never returns: `H5HG_read` loops in the
    /// metadata cache (h5py with HDF5 2.0.0 hangs on the same attribute). The child is stopped after 8 s.
    @Test func variableLengthAttributeThatNeverFinishesReading() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/vlen-attribute-global-heap-hang.h5"))
        }
    }

    /// `H5Dread` of a chunked dataset with a damaged filter pipeline: `H5VM_memcpyvv` reads past a
    /// 17-byte chunk buffer.
    @Test func chunkedDatasetWithADamagedPipeline() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/chunked-read-overflow.h5"))
        }
    }

    /// `H5Dread` of a compact dataset that needs 12 bytes but stores none: `memcpy` from address 4.
    /// `H5Dget_storage_size` < points × element size before the read would refuse it cleanly.
    @Test func compactDatasetWithoutStorage() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/compact-dataset-without-storage.h5"))
        }
    }

    /// `H5Dopen2`: decoding a damaged datatype message of the dataset's header reads past its buffer
    /// (`H5O_msg_read` → `H5T_copy`; another input did the same in `H5MM_xstrdup`).
    @Test func datasetWhoseHeaderMessageIsDamaged() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/dataset-open-message-overflow.h5"))
        }
    }

    /// `H5Aexists` (is there a `dtype` attribute?) on an object whose attribute messages are damaged:
    /// `H5O__msg_iterate_real` reads freed memory.
    @Test func attributeLookupOnADamagedObjectHeader() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/attribute-exists-use-after-free.h5"))
        }
    }

    /// `H5Literate` over an old-style group (symbol table) whose local heap is damaged: a NULL read in
    /// `H5F__accum_read` under `H5HL_protect`.
    @Test func linkIterationOverADamagedSymbolTable() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/symbol-table-group-null-read.h5"))
        }
    }

    /// `H5Fopen` of a 16 KB file whose root object header claims 4 GB: `H5C_protect` allocates it, which
    /// libFuzzer reported as out-of-memory. Recast's reader must refuse the claim, not allocate it.
    @Test func superblockThatClaimsGigabytesOfMetadata() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.hdf5("hdf5/superblock-4gb-metadata-allocation.h5"))
        }
    }
}

/// Inputs on which the pickle machine of the PyTorch reader exceeded fuzz-pickle's 10 s time-out
/// (issue 15's first campaign, 30 minutes, 456,990 runs). Each must end in a refusal naming the file;
/// the child is stopped after 10 s, which both took before their fixes under the fuzzer's instrumentation.
@Suite struct PickleMachineRegressions {
    /// A dict shared through the memo and placed twice in the next, 30 levels deep: the result counts
    /// 2^30 appearances. The objects budget (every appearance counts) stopped it at 8,388,608 after
    /// 3.7 s and 322 MB in a release build. Fixed by lowering `PickleLimits.standard.objects` to 2^21
    /// (about 0.4 s and 80 MB in a debug build).
    @Test func dictSharedTwiceOverThirtyLevelsIsRefusedQuickly() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.pickle("pickle/shared-dict-dag.pkl", seconds: 10))
        }
    }

    /// 200,000 empty lists, each appended to the one below it: refused when the value is built (nesting
    /// beyond 100), but releasing the containers cast each of 200,000 boxes dynamically (4.5 s under
    /// AddressSanitizer). Fixed by keeping lists and dicts in arrays of their own types.
    @Test func twoHundredThousandNestedListsAreRefusedQuickly() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.pickle("pickle/400k-empty-lists.pkl", seconds: 10))
        }
    }
}

/// fuzz-torch-zip (issue 15's second campaign, within two minutes): a refusal of the pickle inside a zip
/// named the file as `input.pt (archive/data.pkl)`, so `CheckpointError.file` was not the file. Fixed in
/// `PickleMachine.load(_:file:entry:)`: the entry is the error's object (`zip entry 'archive/data.pkl'`).
@Suite struct TorchZipRegressions {
    /// A pickle that calls `os.system` (GLOBAL), inside an otherwise valid torch.save zip.
    @Test func refusedGlobalNamesTheFileItself() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.torchZip("torch-zip/os-system-refusal-names-entry-as-file.pt"))
        }
    }

    /// A persistent id of the wrong shape (BINPERSID), inside a torch.save zip.
    @Test func refusedPersistentIdNamesTheFileItself() async {
        await #expect(processExitsWith: .success) {
            exit(Replay.torchZip("torch-zip/persistent-id-refusal-names-entry-as-file.pt"))
        }
    }
}
