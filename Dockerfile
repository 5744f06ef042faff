# syntax=docker/dockerfile:1
# Both binaries from one build; pick one with --target gateway|consumer.
#   docker build --target gateway  -t switchboard/gateway .
#   docker build --target consumer -t switchboard/consumer .

FROM rust:1-bookworm AS build
# librdkafka is compiled from source (rdkafka-sys), with OpenSSL for SASL_SSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev libcurl4-openssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gateway --bin consumer

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libcurl4 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin switchboard
USER 10001:10001
ENV LOG_FORMAT=json

FROM runtime AS gateway
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
ENV GATEWAY_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM runtime AS consumer
COPY --from=build /src/target/release/consumer /usr/local/bin/consumer
ENV CONSUMER_ADMIN_LISTEN=0.0.0.0:9091
EXPOSE 9091
ENTRYPOINT ["/usr/local/bin/consumer"]
CMD ["run"]
