# The invorder image used by compose.yaml: one image, every process (serve, worker, payments-sim, migrate).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY sql ./sql
RUN python -m pip install --no-cache-dir .
ENV INVORDER_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8000 8100
ENTRYPOINT ["invorder"]
CMD ["serve"]
