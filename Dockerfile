# gatehouse's OCI image (docs/install.md, "Container image"). Builds unchanged with Docker or Podman:
#   docker build -t gatehouse .                          compiles from source (~20 min on 2 cores)
#   docker build -t gatehouse --build-arg GATEHOUSE_DEB=prebuilt .
#                                                        installs dist/gatehouse_*.deb made by scripts/package
#   docker build -t gatehouse-js --target gatehouse-js .    + node and Kong's JavaScript plugin server
#   docker build -t gatehouse-python --target gatehouse-python .   + Kong's Python plugin server
# Configure it as Kong's image: KONG_* environment variables (KONG_DECLARATIVE_CONFIG,
# KONG_PROXY_LISTEN, KONG_PLUGINSERVER_NAMES, ...), no configuration file needed.

# ---- build: compile and package on Debian 12, or take the .deb scripts/package left in dist/ ------
# (One stage with a condition rather than a stage chosen by ARG: Podman and Buildah skip stages
# they cannot see are used.)
FROM debian:12 AS build
ARG GATEHOUSE_DEB=source
WORKDIR /src
COPY scripts/setup scripts/setup
RUN if [ "$GATEHOUSE_DEB" = source ]; then scripts/setup build && rm -rf /var/lib/apt/lists/*; fi
COPY . .
RUN set -e; mkdir -p /debs; \
    case "$GATEHOUSE_DEB" in \
      source) cmake -S . -B build-image -G Ninja -DCMAKE_BUILD_TYPE=Release -DGATEHOUSE_TESTS=OFF \
              && scripts/package --build-dir build-image --out /debs ;; \
      prebuilt) cp dist/gatehouse_*.deb /debs/ ;; \
      *) echo "GATEHOUSE_DEB must be source or prebuilt" >&2; exit 1 ;; \
    esac

# ---- runtime: slim Debian 12, the package, a non-root user ---------------------------------------
FROM debian:12-slim AS gatehouse-base
COPY --from=build /debs/ /tmp/debs/
# The package creates /var/lib/gatehouse (the prefix) and the gatehouse user, made here first with a
# fixed id (999) for securityContext.runAsUser in deploy/k8s; its dependencies come from Debian.
RUN groupadd --system --gid 999 gatehouse \
 && useradd --system --uid 999 --gid gatehouse --home-dir /var/lib/gatehouse --no-create-home \
      --shell /usr/sbin/nologin gatehouse \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/debs/gatehouse_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/debs
ENV KONG_DATABASE=off \
    KONG_PREFIX=/var/lib/gatehouse \
    KONG_DECLARATIVE_CONFIG=/etc/gatehouse/kong.yml \
    KONG_PROXY_LISTEN="0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384" \
    KONG_ADMIN_LISTEN=127.0.0.1:8001 \
    KONG_PROXY_ACCESS_LOG=/dev/stdout \
    KONG_PROXY_ERROR_LOG=/dev/stderr \
    KONG_ADMIN_ACCESS_LOG=/dev/stdout \
    KONG_ADMIN_ERROR_LOG=/dev/stderr
USER gatehouse
WORKDIR /var/lib/gatehouse
EXPOSE 8000 8443 8001
# SIGQUIT, as Kong's image: gatehouse drains in-flight requests (SIGTERM does too), for
# nginx_main_worker_shutdown_timeout (10s by default): give `docker stop -t` more than that.
STOPSIGNAL SIGQUIT
# Exit 0 while the gateway of KONG_PREFIX runs and its admin listener answers.
HEALTHCHECK --interval=10s --timeout=10s --start-period=5s --retries=10 CMD ["gatehouse", "health"]
CMD ["gatehouse", "start"]

# ---- variants with a plugin server runtime (docs/install.md lists their settings) ---------------
# Kong's JavaScript plugin server (npm kong-pdk) on Debian's node; add your plugins under
# /usr/local/kong/js-plugins and set KONG_PLUGINSERVER_NAMES=js and the js start/query commands.
FROM gatehouse-base AS gatehouse-js
USER root
ARG KONG_JS_PDK_VERSION=0.6.0
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && npm install --global --no-audit --no-fund "kong-pdk@${KONG_JS_PDK_VERSION}" \
 && DEBIAN_FRONTEND=noninteractive apt-get purge -y --auto-remove npm \
 && rm -rf /var/lib/apt/lists/* /root/.npm \
 && mkdir -p /usr/local/kong/js-plugins
USER gatehouse

# Kong's Python plugin server (PyPI kong-pdk) in a virtual environment on Debian's python3.
FROM gatehouse-base AS gatehouse-python
USER root
ARG KONG_PYTHON_PDK_VERSION=0.33
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && python3 -m venv /opt/kong-python-pdk \
 && /opt/kong-python-pdk/bin/pip install --no-cache-dir "kong-pdk==${KONG_PYTHON_PDK_VERSION}" \
 && ln -s /opt/kong-python-pdk/bin/kong-python-pluginserver /usr/local/bin/ \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /usr/local/kong/python-plugins
USER gatehouse

# The default target: the gateway alone. Go plugins (go-pdk) and C++ plugins are single binaries:
# COPY them in a layer of your own (docs/install.md shows how).
FROM gatehouse-base AS gatehouse
