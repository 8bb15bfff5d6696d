# syntax=docker/dockerfile:1.7
#
# One image, two binaries: `api` (the HTTP ingress) and `workers` (consumers, outbox relay and
# the operator commands `workers dlq ...` / `workers verify`). The default command is `api`;
# docker-compose.yml picks the command per service.
#
#   docker build -t loyalty-engine:local .
#   docker run --rm loyalty-engine:local workers --help
#
# Needs BuildKit (the default builder of Docker 23+) for the cache mounts below.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /app

# The whole workspace: `--locked` resolves every member's manifest (tests/ included) against
# Cargo.lock, and platform's `sqlx::migrate!("../migrations")` embeds migrations/ at compile time.
# The compile-checked queries build from the committed `.sqlx/` data (SQLX_OFFLINE): no database
# is needed to build the image.
ENV SQLX_OFFLINE=true
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY .sqlx/ .sqlx/
COPY schemas/ schemas/
COPY platform/ platform/
COPY api/ api/
COPY workers/ workers/
COPY tests/ tests/
COPY migrations/ migrations/

# The registry and target/ live in cache mounts so that a rebuild recompiles only what changed.
# Cache mounts are not part of the image, hence the copy of the binaries to /out.
# (platform/build.rs makes a new migration file rebuild platform, so the cached target/ never
# ships an old migration list.)
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/app/target,sharing=locked \
    cargo build --release --locked -p api -p workers --bins \
 && mkdir -p /out \
 && cp target/release/api target/release/workers /out/

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: the system roots that TLS to a managed RabbitMQ (amqps://) and Redis
# (rediss://) checks the server against (rustls, no OpenSSL). PostgreSQL's TLS (sslmode=require,
# verify-ca, verify-full) checks against Mozilla's roots compiled into the binary (webpki-roots)
# and the CA of `sslrootcert=`; a private CA for Redis goes in REDIS_CA_FILE.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 loyalty \
 && useradd --system --uid 10001 --gid loyalty --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin loyalty

COPY --from=builder /out/api /out/workers /usr/local/bin/

USER loyalty:loyalty

# The binaries default to 127.0.0.1:21100, which is unreachable from outside a container.
ENV API_ADDR=0.0.0.0:21100
EXPOSE 21100

# Exec form with no ENTRYPOINT: the binary is PID 1 and receives SIGTERM itself (both handle it:
# the api drains requests, the workers finish in-flight batches for up to 30 s).
CMD ["api"]
