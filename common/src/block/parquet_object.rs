//! A Parquet file in object storage seen as parquet's [`AsyncFileReader`]:
//! every read is a ranged GET, so a query fetches only the footer and the
//! column chunks it needs. Logs and trace blocks both read through it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Bytes read from the end of a file to find its footer in one GET.
const FOOTER_PREFETCH: usize = 64 << 10;

/// One Parquet object whose size is known (recorded when it was written),
/// so its footer is found without a HEAD request.
pub struct ParquetObject {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ParquetObject {
    /// The `size`-byte object at `path` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> Self {
        Self { store, path, size }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// What a failed Parquet read of `path` means: the store's own error when
/// the store failed (an unavailable bucket is a 503 naming it, never
/// "damaged data"), else damage.
pub fn read_error(path: &Path, e: ParquetError) -> super::BlockError {
    match e {
        ParquetError::External(source) => match source.downcast::<object_store::Error>() {
            Ok(e) => super::BlockError::ObjectStore(*e),
            Err(other) => super::corrupt(path, other.to_string()),
        },
        other => super::corrupt(path, other.to_string()),
    }
}

impl AsyncFileReader for ParquetObject {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let meta = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}
