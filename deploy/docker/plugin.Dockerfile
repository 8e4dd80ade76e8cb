# syntax=docker/dockerfile:1
#
# The edgeheal Fluent Bit filter and sampler as an init-container image. Build from the repository root:
#
#   docker build -f deploy/docker/plugin.Dockerfile -t ghcr.io/edgeheal/edgeheal-plugin:0.1.0 .
#
# Stage 1 builds `edgeheal_plugin.wasm` (the filter) and `edgeheal-sampler.wasm` (the cgroup
# sampler Fluent Bit's exec_wasi input runs) for wasm32-wasip1 with the toolchain pinned by
# rust-toolchain.toml (release profile: panic = "abort", one codegen unit; the default models
# are embedded in the filter). The artifact is platform-independent, so the builder runs on
# the build host's platform even for multi-arch images.
#
# Stage 2 holds only the modules and `cp`: its one job, as an init container, is to copy the
# modules into a shared emptyDir (mounted at /plugins in the init container) that Fluent Bit
# mounts at the directory of its `wasm_path` (see pipeline-configs/fluent-bit/daemonset.yaml).
# It runs as UID/GID 65532; an emptyDir is world-writable, so no root is needed.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=docker.io/library/busybox:stable-musl

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# rustup >= 1.28.1 installs the channel, components and targets (wasm32-wasip1) from
# rust-toolchain.toml; the explicit `target add` keeps older rustups working too.
RUN rustup toolchain install && rustup target add wasm32-wasip1 && rustc --version
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build -p edgeheal-plugin -p edgeheal-sampler --target wasm32-wasip1 --release --locked \
    && install -D -m 0444 target/wasm32-wasip1/release/edgeheal_plugin.wasm /out/edgeheal_plugin.wasm \
    && install -D -m 0444 target/wasm32-wasip1/release/edgeheal-sampler.wasm /out/edgeheal-sampler.wasm

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="edgeheal-plugin" \
      org.opencontainers.image.description="edgeheal Fluent Bit wasm filter and cgroup sampler (init container: copies both to /plugins)" \
      org.opencontainers.image.source="https://github.com/edgeheal/edgeheal" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder --chmod=0444 /out/edgeheal_plugin.wasm /out/edgeheal-sampler.wasm /edgeheal/
USER 65532:65532
ENTRYPOINT ["/bin/cp", "/edgeheal/edgeheal_plugin.wasm", "/edgeheal/edgeheal-sampler.wasm", "/plugins/"]
