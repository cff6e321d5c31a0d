# mock-op-auth: a mock of OP's OAuth 2.0 / OpenID Connect server (see docs/docker.md).
# Multi-stage: build a wheel, then install only that wheel into a clean slim runtime.
# Nothing here is architecture-specific: the python slim images are multi-arch (amd64, arm64).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mock_op_auth ./mock_op_auth
COPY docker/build.sh ./docker/build.sh
RUN sh docker/build.sh /dist

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MOCK_OP_AUTH_PORT=8080 \
    MOCK_OP_AUTH_TLS_DIR=/tls
COPY docker/install.sh docker/entrypoint.sh /usr/local/lib/mock-op-auth/
COPY --from=build /dist /tmp/dist
RUN PIP_NO_CACHE_DIR=1 sh /usr/local/lib/mock-op-auth/install.sh /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --no-log-init --uid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin mock \
    && mkdir /fixtures \
    && mkdir -m 0700 /tls && chown 10001:10001 /tls
# With MOCK_OP_AUTH_TLS=1 the mock serves HTTPS: its CA and server certificate are made in /tls
# on first start (mount a volume there to share ca.crt with neighbours; docs/tls.md).
# Mount fixture files here and choose one (or the whole folder) with MOCK_OP_AUTH_FIXTURES,
# e.g. MOCK_OP_AUTH_FIXTURES=/fixtures/sandbox.yaml; unset, the embedded default fixture is used.
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 CMD ["mock-op-auth", "healthcheck"]
ENTRYPOINT ["/usr/local/lib/mock-op-auth/entrypoint.sh"]
CMD ["serve", "--host", "0.0.0.0"]
