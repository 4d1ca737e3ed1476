# Switchboard container image: a release build on Debian, run as an unprivileged user, on
# sip-profiles/container.toml: every address, no extensions, no shipped secret (the lab
# profile refuses to listen beyond loopback). The first admin's password comes from
# SWITCHBOARD_ADMIN_PASSWORD (or a secret file) or is generated and printed once; the
# database URL from SWITCHBOARD_DATABASE_URL. docker-compose.yml runs it next to PostgreSQL;
# `tests/compose.rs` validates both files.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim
# The system CAs TLS trunk gateways' certificates are checked against (unless a trunk names
# its own `tls_ca`).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /var/lib/switchboard --create-home switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY sip-profiles /etc/switchboard/sip-profiles
RUN mkdir -p -m 0700 /var/lib/switchboard/recordings && chown -R switchboard /var/lib/switchboard
USER switchboard
WORKDIR /var/lib/switchboard
# SIP over UDP and TCP, the CTI API; RTP ports come from the profile's range.
EXPOSE 5060/udp 5060/tcp 8080/tcp
ENTRYPOINT ["switchboard", "--profile", "/etc/switchboard/sip-profiles/container.toml"]
CMD ["--recordings", "/var/lib/switchboard/recordings"]
