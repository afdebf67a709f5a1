//! Reading and writing tensors: NumPy `.npy` files and exact JSON.
//!
//! Every element read is converted to an exact [`Rational`] (floats exactly, NaN and infinity
//! refused with the index of the element); every element written to a float `.npy` is the
//! correctly rounded value of the exact result.

pub mod json;
pub mod npy;

pub use json::{read_exact_json, write_exact_json};
pub use npy::{
    read_npy, read_npy_bytes, read_npy_f64, read_npy_float, read_npy_float_bytes, read_npy_scaled,
    read_npy_scaled_bytes, write_npy, write_npy_scaled, Dtype, FloatArray, NpyBytes, RoundedSource,
};

use crate::scalar::Rational;
use ndarray::ArrayD;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A tensor read from a file, with the dtype it was stored in.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactTensor {
    /// The stored element type (for JSON input: [`Dtype::Exact`]).
    pub dtype: Dtype,
    /// The exact values, in C order.
    pub values: ArrayD<Rational>,
}

/// Why a file could not be read or written.
#[derive(Debug)]
pub enum IoError {
    /// The operating system refused.
    Io {
        /// The file.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// The file is not a well-formed .npy / exact JSON file.
    Malformed {
        /// The file.
        path: PathBuf,
        /// ".npy" or "exact JSON".
        format: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The element type cannot be read exactly.
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The dtype string.
        dtype: String,
    },
    /// Reading the file would exceed the memory limit ([`crate::limits`]).
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit's message (what needs how much, the flag that raises the limit).
        message: String,
    },
    /// NaN or infinity where an exact value is required.
    NotFinite {
        /// The file.
        path: PathBuf,
        /// Multi-index of the first offending element.
        index: Vec<usize>,
        /// "nan", "inf" or "-inf".
        value: String,
    },
    /// A value that the requested output dtype cannot hold.
    NotRepresentable {
        /// The file.
        path: PathBuf,
        /// Multi-index of the element.
        index: Vec<usize>,
        /// The exact value.
        value: String,
        /// The output dtype.
        dtype: String,
    },
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoError::Io { path, message } => {
                let path = path.display();
                write!(f, "{path}: {message}")
            }
            IoError::Malformed {
                path,
                format,
                message,
            } => {
                let path = path.display();
                write!(f, "{path}: malformed {format} file: {message}")
            }
            IoError::UnsupportedDtype { path, dtype } => {
                let path = path.display();
                write!(f, "{path}: unsupported dtype '{dtype}': expected a real numeric dtype (bool, int8..int64, uint8..uint64, float16, float32, float64)")
            }
            IoError::TooLarge { path, message } => {
                let path = path.display();
                write!(f, "{path}: {message}")
            }
            IoError::NotFinite { path, index, value } => {
                let path = path.display();
                write!(
                    f,
                    "{path}: element {index:?} is {value}, which has no exact value"
                )
            }
            IoError::NotRepresentable {
                path,
                index,
                value,
                dtype,
            } => {
                let path = path.display();
                write!(
                    f,
                    "{path}: element {index:?} = {value} is not representable as {dtype}"
                )
            }
        }
    }
}

impl std::error::Error for IoError {}

impl IoError {
    pub(crate) fn io(path: &Path, error: impl std::fmt::Display) -> IoError {
        IoError::Io {
            path: path.to_path_buf(),
            message: error.to_string(),
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename, so
/// an error never leaves a partial output.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomically_parts(path, &[bytes])
}

/// [`write_atomically`] of the concatenation of `parts` (a header and its data, say).
///
/// A destination that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a named
/// pipe) is written in place, as `numpy.save` and `cp` do: renaming over it would replace the
/// device or pipe with a regular file. The temporary file is not synced to disk before the
/// rename (neither `numpy.save` nor `torch.save` syncs; a sync cost 1.5-2 ms of a 12-18 ms
/// `convspec correlate` here): the file appears complete or not at all when the process fails,
/// but a power cut may lose it.
pub fn write_atomically_parts(path: &Path, parts: &[&[u8]]) -> Result<(), IoError> {
    let write_all = |file: &mut std::fs::File| -> std::io::Result<()> {
        for part in parts {
            file.write_all(part)?;
        }
        Ok(())
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(IoError::io(path, "is a directory")),
        Ok(m) if !m.is_file() => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| IoError::io(path, e))?;
            return write_all(&mut file).map_err(|e| IoError::io(path, e));
        }
        _ => {}
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| IoError::io(path, "not a file name"))?;
    let temporary = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        write_all(&mut file)?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(IoError::io(path, e));
    }
    Ok(())
}

/// Reads a tensor from `.npy`, or from exact JSON when the name ends in `.json`.
pub fn read_tensor(path: &Path) -> Result<ExactTensor, IoError> {
    if path.extension().is_some_and(|e| e == "json") {
        read_exact_json(path)
    } else {
        read_npy(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("convspec-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A regular file is replaced whole and no temporary file stays; a directory is refused.
    #[test]
    fn regular_files_are_replaced_and_folders_refused() {
        let dir = folder("regular");
        let path = dir.join("out.bin");
        std::fs::write(&path, b"an older and longer content").unwrap();
        write_atomically_parts(&path, &[b"head", b"-data"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"head-data");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "only the output remains");
        assert!(matches!(
            write_atomically(&dir, b"x"),
            Err(IoError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A named pipe stays a pipe and receives the bytes (renaming over it would turn it into
    /// a regular file, as it would turn `/dev/null` into one).
    #[cfg(target_os = "linux")]
    #[test]
    fn special_files_are_written_in_place() {
        use std::io::Read;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let dir = folder("fifo");
        let path = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("no mkfifo here: skipped");
            return;
        }
        // A reader opened without blocking (O_NONBLOCK), so that the writer's open succeeds.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(0o4000)
            .open(&path)
            .unwrap();
        write_atomically_parts(&path, &[b"through ", b"the pipe"]).unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().file_type().is_fifo(),
            "the pipe was replaced"
        );
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"through the pipe");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
