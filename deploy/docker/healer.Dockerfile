# syntax=docker/dockerfile:1
#
# edgeheal-healer, the heal API. Build from the repository root:
#
#   docker build -f deploy/docker/healer.Dockerfile -t ghcr.io/edgeheal/edgeheal-healer:0.1.0 .
#
# Stage 1 compiles with the toolchain pinned by rust-toolchain.toml (rustup reads it from the
# working directory); `--locked` builds exactly Cargo.lock. The builder is Debian 12, like the
# runtime, so the binary's glibc matches. SQLite (rusqlite `bundled`) and ring are compiled
# from C here, so the runtime needs only libc and libgcc.
#
# Stage 2 is distroless (no shell, no package manager) and runs as UID/GID 65532 (`nonroot`),
# the identity pipeline-configs/kubernetes/deployment.yaml also enforces. The container needs
# a writable /var/lib/edgeheal (the SQLite store, a PVC in Kubernetes) and nothing else: the
# root filesystem can be read-only.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# The whole workspace: cargo resolves every member listed in Cargo.toml (see .dockerignore).
COPY . .
# rustup >= 1.28.1 installs the channel, components and targets from rust-toolchain.toml.
RUN rustup toolchain install && rustc --version
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p edgeheal-healer --locked \
    && install -D -m 0755 target/release/edgeheal-healer /out/edgeheal-healer

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="edgeheal-healer" \
      org.opencontainers.image.description="edgeheal heal API: authenticated, safe remediation through the Kubernetes API" \
      org.opencontainers.image.source="https://github.com/edgeheal/edgeheal" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/edgeheal-healer /usr/local/bin/edgeheal-healer
USER 65532:65532
# /metrics, /healthz, /readyz and POST /v1/anomalies (config key `listen`, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/edgeheal-healer"]
# Kept in CMD, not ENTRYPOINT, so a Deployment's `args` replace it: clap rejects `--config`
# given twice. `docker run -v ./healer.yaml:/etc/edgeheal/healer.yaml:ro ...` uses this default.
CMD ["--config", "/etc/edgeheal/healer.yaml"]
