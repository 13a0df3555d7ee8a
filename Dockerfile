# One image for the web process and both kinds of worker.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY webapp webapp
COPY core core
COPY corpora corpora
COPY annotation annotation
COPY curation curation
COPY rewrites rewrites
COPY demo demo
COPY rewardmodel rewardmodel
COPY rewriting rewriting
COPY judge judge
COPY workers workers
COPY frontend frontend
COPY manage.py ./
COPY scripts/extra_requirements.py scripts/
# The GPU worker image swaps in a CUDA build of torch 2.13.0 with TORCH_INDEX_URL.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --extra-index-url "$TORCH_INDEX_URL" -e . \
 && pip install --no-deps $(python scripts/extra_requirements.py gguf-assets)
RUN DJANGO_SETTINGS_MODULE=webapp.settings python manage.py collectstatic --noinput
EXPOSE 8000
