//! The int8 weights, held once for every session of the process.
//!
//! Each ONNX Runtime session pre-packs the weight matrix of every `MatMulIntegerToFloat` into
//! a layout of its own (21 MB for this model) and maps the external data file apart, so a
//! second session used to cost 24 MB more. ONNX Runtime shares pre-packed buffers between
//! sessions only for initializers the caller supplies (`AddInitializer`) and a container
//! passed to every session (`CreateSessionWithPrepackedWeightsContainer`): this module maps
//! the graph's external data once, makes tensors over its int8 initializers (the MatMul
//! weights, the token embeddings), and [`SharedWeights::apply`] hands the same values and
//! container to each session builder.

use std::path::Path;
use std::sync::Arc;

use ort::AsPointer;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::value::DynValue;
use prost::Message;

/// The parts of ONNX's `ModelProto` read here; prost skips every other field.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<Entry>,
}

#[derive(Clone, PartialEq, Message)]
struct Entry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// ONNX `TensorProto.DataType.INT8`.
const INT8: i32 = 3;

/// Where one int8 tensor lies in an external data file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed {
    name: String,
    dims: Vec<i64>,
    file: String,
    offset: usize,
    length: usize,
}

/// The int8 initializers the graph keeps in external data files (the MatMul weights, the
/// token embeddings), with their place in it. Wider types stay with the sessions: a map gives
/// no alignment for them.
fn external_int8(graph: &[u8]) -> Result<Vec<Placed>, String> {
    let model = ModelProto::decode(graph).map_err(|e| e.to_string())?;
    let graph = model.graph.unwrap_or_default();
    let mut out = Vec::new();
    for t in &graph.initializer {
        if t.data_type != INT8 {
            continue;
        }
        let get = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.as_str())
        };
        let Some(file) = get("location") else {
            continue;
        };
        let number = |key: &str| -> Result<usize, String> {
            get(key)
                .unwrap_or("0")
                .parse()
                .map_err(|_| format!("{}: bad {key}", t.name))
        };
        let length = match get("length") {
            Some(_) => number("length")?,
            None => t.dims.iter().product::<i64>().max(0) as usize,
        };
        out.push(Placed {
            name: t.name.clone(),
            dims: t.dims.clone(),
            file: file.to_owned(),
            offset: number("offset")?,
            length,
        });
    }
    Ok(out)
}

/// The weights and the pre-packing container every session of one model shares. The values
/// point into a read-only map of the external data file, which lives as long as this does:
/// the model keeps it until its sessions are gone.
pub(crate) struct SharedWeights {
    values: Vec<(String, Arc<DynValue>)>,
    prepacked: PrepackedWeights,
    maps: Vec<(String, memmap2::Mmap)>,
}

/// An int8 tensor over `data`, which must outlive it.
///
/// # Safety
/// `data` stays mapped, unchanged, while the tensor or any session given it exists.
unsafe fn borrowed_int8(info: &MemoryInfo, data: &[u8], dims: &[i64]) -> Result<DynValue, String> {
    let api = ort::api();
    let mut value: *mut ort::sys::OrtValue = std::ptr::null_mut();
    // SAFETY: the pointer and length describe `data`, which ONNX Runtime only reads (an
    // initializer); the caller keeps it alive.
    let status = unsafe {
        (api.CreateTensorWithDataAsOrtValue)(
            info.ptr(),
            data.as_ptr() as *mut std::ffi::c_void,
            data.len(),
            dims.as_ptr(),
            dims.len(),
            ort::sys::ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8,
            &mut value,
        )
    };
    if !status.0.is_null() {
        // SAFETY: a non-null status is a live OrtStatus, released once here.
        let message = unsafe {
            let m = std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0))
                .to_string_lossy()
                .into_owned();
            (api.ReleaseStatus)(status.0);
            m
        };
        return Err(message);
    }
    let value = std::ptr::NonNull::new(value).ok_or("ONNX Runtime returned no tensor")?;
    // SAFETY: `value` is a fresh OrtValue this process owns; dropping the DynValue releases
    // it (and not `data`, which it does not own). Its memory info is the default CPU
    // allocator's, the one passed.
    Ok(unsafe { DynValue::from_ptr(value, Some(&Allocator::default())) })
}

impl SharedWeights {
    /// Maps the int8 initializers of the graph at `onnx_path` (from its external data files);
    /// `None` when it has none to share.
    pub(crate) fn load(onnx_path: &Path) -> Result<Option<Self>, String> {
        let graph = std::fs::read(onnx_path).map_err(|e| e.to_string())?;
        let placed = external_int8(&graph)?;
        if placed.is_empty() {
            return Ok(None);
        }
        let dir = onnx_path.parent().unwrap_or(Path::new("."));
        let info = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(|e| e.to_string())?;
        // each external data file mapped once, by its name in the graph
        let mut maps: Vec<(String, memmap2::Mmap)> = Vec::new();
        let mut values = Vec::with_capacity(placed.len());
        for p in &placed {
            let index = match maps.iter().position(|(name, _)| *name == p.file) {
                Some(i) => i,
                None => {
                    let file = std::fs::File::open(dir.join(&p.file))
                        .map_err(|e| format!("{}: {e}", p.file))?;
                    // SAFETY: the model's files are not changed while it runs (their checksums
                    // were checked at load); the map is read-only.
                    let map = unsafe { memmap2::Mmap::map(&file) }
                        .map_err(|e| format!("{}: {e}", p.file))?;
                    maps.push((p.file.clone(), map));
                    maps.len() - 1
                }
            };
            let expected = p.dims.iter().product::<i64>().max(0) as usize;
            let data = maps[index]
                .1
                .get(p.offset..p.offset.saturating_add(p.length))
                .filter(|d| d.len() == expected)
                .ok_or_else(|| {
                    format!(
                        "{}: {} bytes at {} are not in {}",
                        p.name, p.length, p.offset, p.file
                    )
                })?;
            // SAFETY: `maps` holds the map for as long as `values` and the sessions live.
            let value = unsafe { borrowed_int8(&info, data, &p.dims)? };
            values.push((p.name.clone(), Arc::new(value)));
        }
        Ok(Some(Self {
            values,
            prepacked: PrepackedWeights::new(),
            maps,
        }))
    }

    /// Gives `builder` the shared weights and the shared pre-packing container.
    pub(crate) fn apply(&self, mut builder: SessionBuilder) -> ort::Result<SessionBuilder> {
        for (name, value) in &self.values {
            builder = builder.with_initializer(name, Arc::clone(value))?;
        }
        Ok(builder.with_prepacked_weights(&self.prepacked)?)
    }

    /// Once every session is built, the raw weights are no longer read (each MatMul runs on
    /// its packed copy): lets the kernel drop their pages, which it reads back from the file
    /// if they are ever needed.
    pub(crate) fn release_pages(&self) {
        for (_, map) in &self.maps {
            // SAFETY: the map is private and read-only, never written: dropped pages are read
            // back from the unchanged file on the next access, so no reader sees other data.
            if let Err(e) = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) } {
                tracing::debug!(error = %e, "madvise on the shared weights failed");
            }
        }
    }

    /// Tensors shared.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn finds_the_int8_initializers_kept_in_external_data_only() {
        let tensor = |name: &str, data_type, dims: Vec<i64>, external: Vec<Entry>| TensorProto {
            dims,
            data_type,
            name: name.into(),
            external_data: external,
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                initializer: vec![
                    tensor(
                        "w1",
                        INT8,
                        vec![4, 3],
                        vec![
                            entry("location", "m.data"),
                            entry("offset", "64"),
                            entry("length", "12"),
                        ],
                    ),
                    // stored inside the graph: left to the session
                    tensor("w2", INT8, vec![2, 2], vec![]),
                    // no offset or length: at the start, as long as its dims say
                    tensor(
                        "table",
                        INT8,
                        vec![10, 3],
                        vec![entry("location", "m.data")],
                    ),
                    // float: the map gives no alignment for it
                    tensor("scale", 1, vec![3], vec![entry("location", "m.data")]),
                ],
            }),
        };
        let placed = |name: &str, dims: Vec<i64>, offset, length| Placed {
            name: name.into(),
            dims,
            file: "m.data".into(),
            offset,
            length,
        };
        assert_eq!(
            external_int8(&model.encode_to_vec()).unwrap(),
            vec![
                placed("w1", vec![4, 3], 64, 12),
                placed("table", vec![10, 3], 0, 30)
            ]
        );
    }

    #[test]
    fn a_graph_that_is_not_onnx_is_an_error() {
        assert!(external_int8(b"\xff\xff\xff not protobuf").is_err());
    }
}
