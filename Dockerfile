# Task Sentinel's container image: the sidecar (`sentinel`) and its CLI (`sentinelctl`, which
# the Kubernetes manifests use as the probe), built -c opt from Debian bookworm's packages.
#
#   docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t task-sentinel:0.1.0 .
#
# Stage 1 builds with exactly the packages scripts/setup.sh installs (the Bazel build downloads
# nothing). Stage 2 is debian:bookworm-slim with only the shared libraries the two binaries load:
# RUNTIME_PACKAGES below is the set of Debian packages that own the binaries' `ldd` libraries,
# and //tests/deploy:dockerfile_test fails when it is not exactly that set (a library added to
# the build must be added here). No HEALTHCHECK: orchestrators probe the gRPC health service
# (k8s/, `sentinelctl health`). Runs as an unprivileged user (65532) and needs no writable
# root filesystem: the embedded store lives in SENTINEL_DATA_DIR (a volume).

FROM debian:bookworm AS build
ARG COMMIT=unknown
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN apt-get update -q && scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bazel build -c opt --define=SENTINEL_COMMIT="${COMMIT}" \
        //service:sentinel //clients/cli:sentinelctl \
    && mkdir -p /out \
    && cp -L bazel-bin/service/sentinel bazel-bin/clients/cli/sentinelctl /out/ \
    && strip /out/sentinel /out/sentinelctl

FROM debian:bookworm-slim
ARG RUNTIME_PACKAGES="\
    libabsl20220623 libbrotli1 libc-ares2 libc6 libcom-err2 libcpp-httplib0.11 libcurl4 \
    libffi8 libgcc-s1 libgmp10 libgnutls30 libgrpc++1.51 libgrpc29 libgssapi-krb5-2 \
    libhogweed6 libidn2-0 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 libldap-2.5-0 \
    libnettle8 libnghttp2-14 libp11-kit0 libprotobuf32 libpsl5 libre2-9 librtmp1 libsasl2-2 \
    libsqlite3-0 libssh2-1 libssl3 libstdc++6 libtasn1-6 libunistring2 libzstd1 zlib1g"
# ca-certificates: the sidecar verifies api.github.com's certificate.
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        ca-certificates ${RUNTIME_PACKAGES} \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 sentinel \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin sentinel \
    && install -d -o 65532 -g 65532 /var/lib/task-sentinel /run/sentinel
COPY --from=build /out/sentinel /out/sentinelctl /usr/local/bin/
USER 65532:65532
ENV SENTINEL_DATA_DIR=/var/lib/task-sentinel
EXPOSE 50051 8080
ENTRYPOINT ["/usr/local/bin/sentinel"]
