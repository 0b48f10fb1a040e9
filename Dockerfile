# Strata in a container (docs/operations.md, "Docker, compose and systemd").
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse --short HEAD) -t strata .
#   docker run -d -p 1883:1883 -v strata-data:/var/lib/strata \
#       -v $PWD/auth:/etc/strata/auth:ro strata \
#       serve --config /etc/strata/strata.yaml --mqtt 0.0.0.0:1883 --password-file /etc/strata/auth/passwd
#
# The binary is static (CGO_ENABLED=0), so the runtime image is scratch: no
# shell, no package manager, nothing but the binary, the example config, CA
# certificates and the user's name. `strata health` is the health check
# (there is no curl).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# The same build as `make release`: static, no local paths in the binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/usr/local/bin/strata ./cmd/strata
# The runtime's tree: the service user (uid and gid 10001, fixed so that
# volumes keep their owner across rebuilds), its private data directory,
# the example config, and CA certificates for https --server/--ca checks.
RUN mkdir -p /out/etc/strata /out/etc/ssl/certs /out/var/lib/strata \
 && echo 'strata:x:10001:10001:Strata:/var/lib/strata:/sbin/nologin' > /out/etc/passwd \
 && echo 'strata:x:10001:' > /out/etc/group \
 && cp deploy/strata.yaml /out/etc/strata/strata.yaml \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && chown 10001:10001 /out/var/lib/strata && chmod 0700 /out/var/lib/strata

FROM scratch
COPY --from=build /out/ /
USER 10001:10001
# A named volume mounted here starts as a copy of the image's directory:
# owned by 10001, mode 0700.
VOLUME /var/lib/strata
# 1883 MQTT, 8883 MQTT over TLS, 8083 MQTT over WebSocket, 8080 HTTP API
# (and node-to-node calls), 7000 Raft. Which to publish: docs/operations.md.
EXPOSE 1883 8883 8083 8080 7000
# /readyz: a leader exists and this node has applied what is committed.
# The start period covers replaying a large log at start. A node whose
# --http is not 127.0.0.1:8080 needs its own: compose.yaml shows how.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/strata", "health", "--http", "127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/strata"]
# The example config with every default, MQTT and WebSocket listening on
# every interface (clients need a --password-file, or --allow-anonymous:
# off loopback nobody is admitted otherwise), the HTTP API and Raft on
# loopback (a single node; compose.yaml runs a cluster).
CMD ["serve", "--config", "/etc/strata/strata.yaml", "--mqtt", "0.0.0.0:1883", "--ws", "0.0.0.0:8083"]
