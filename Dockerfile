# Cairn's container image: one binary for every --target.
#   docker build -t cairn:local .
#   docker run -p 9009:9009 -p 4317:4317 cairn:local          # single process, data in /data
# The deployments under deploy/ run the same image with --config.file and --target.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cairn \
    && install -m 0755 target/release/cairn /cairn

FROM debian:bookworm-slim
# ca-certificates: HTTPS to S3/GCS/Azure and Alertmanager. curl: the ingester's
# preStop hook (POST /ingester/shutdown) and compose health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home cairn
COPY --from=build /cairn /usr/local/bin/cairn
USER 10001:10001
WORKDIR /data
EXPOSE 9009 4317
ENTRYPOINT ["/usr/local/bin/cairn"]
# Without arguments: every service in one process, reachable from outside the container.
CMD ["--server.http-listen-address", "0.0.0.0"]
