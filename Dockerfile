# tailgate container image, used by docker-compose.yml (docker build -t tailgate .).
# The config is not baked in: mount it at /etc/tailgate/tailgate.toml.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=container
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tailgate ./cmd/tailgate

FROM debian:12.13-slim
# curl: the compose healthcheck asks /readyz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tailgate
COPY --from=build /out/tailgate /usr/local/bin/tailgate
USER tailgate
# 6033 clients (MySQL protocol), 6034 admin SQL, 9034 /metrics, /healthz, /readyz
EXPOSE 6033 6034 9034
ENTRYPOINT ["/usr/local/bin/tailgate"]
CMD ["-config", "/etc/tailgate/tailgate.toml"]
