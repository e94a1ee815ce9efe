# One image for the worker and the API: `ems-ml worker` (default) or `ems-ml api`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY api ./api
COPY deploy ./deploy
COPY ems_ml ./ems_ml
RUN pip install .
RUN useradd --system --create-home ems && mkdir -p /app/.cache /models && chown ems /app/.cache /models
USER ems
# the scoring engine compiled into the image's cache, so no container compiles it at start
RUN python -m stream.engine
EXPOSE 8000 9464
CMD ["ems-ml", "worker"]
