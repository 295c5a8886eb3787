//! Malformed write bodies get clear 4xx answers and the process keeps serving.

use crate::support::Cairn;
use crate::support::remote_write::{now_ms, push, push_raw, series};

#[tokio::test]
async fn malformed_bodies_get_400_or_413_and_the_process_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let not_protobuf = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty", vec![], 400),
        ("not snappy", b"definitely not snappy".to_vec(), 400),
        ("bad protobuf", not_protobuf, 400),
        ("100 MB", vec![0u8; 100_000_000], 413),
    ];
    for (what, body, want) in cases {
        let (status, text) = push_raw(&url, Some("team-a"), body).await;
        assert_eq!(status, want, "{what}: {text}");
        assert!(!text.is_empty(), "{what}: the error must say what is wrong");
    }
    let (status, body) = push(
        &url,
        Some("team-a"),
        vec![series("ok", &[], &[(now_ms(), 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        crate::support::http()
            .get(format!("{url}/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}
