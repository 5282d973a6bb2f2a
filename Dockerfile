# stylize in a container. Not built by this project yet (its machines have no Docker engine): the same steps,
# wheel from the tree, PyTorch's CPU build, then the wheel, are what the README's "Install" section tested
# in a clean venv.
#
#   docker build -t stylize .                      # CPU (the last stage is the default)
#   docker run --rm -v "$PWD:/work" stylize folder /work/photos /work/styled --style /work/starry.jpg
#   docker build --target cuda -t stylize:cuda .   # CUDA: needs the NVIDIA Container Toolkit, `docker run --gpus all`
ARG PYTHON=3.11

# The wheel, built from the source tree (.dockerignore leaves out venvs and outputs).
FROM python:${PYTHON}-slim AS wheel
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /wheels

# CUDA: PyPI's torch wheels for Linux carry the CUDA libraries; the host brings the driver.
FROM python:${PYTHON}-slim AS cuda-venv
RUN python -m venv /opt/stylize
COPY --from=wheel /wheels /wheels
RUN /opt/stylize/bin/pip install --no-cache-dir /wheels/*.whl

# The runtime images: a venv alone, run as a user without privileges; caches under its home.
FROM python:${PYTHON}-slim AS runtime
RUN useradd --create-home --uid 1000 stylize
WORKDIR /home/stylize
ENV PATH=/opt/stylize/bin:$PATH
ENTRYPOINT ["stylize"]
CMD ["--help"]

FROM runtime AS cuda
COPY --from=cuda-venv /opt/stylize /opt/stylize
USER stylize

# CPU: PyTorch's CPU build from its CPU wheel index first (PyPI's would bring the CUDA libraries, GBs), then
# the wheel, whose `torch` requirement that build already meets.
FROM python:${PYTHON}-slim AS cpu-venv
RUN python -m venv /opt/stylize
RUN /opt/stylize/bin/pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu
COPY --from=wheel /wheels /wheels
RUN /opt/stylize/bin/pip install --no-cache-dir /wheels/*.whl

FROM runtime AS cpu
COPY --from=cpu-venv /opt/stylize /opt/stylize
USER stylize
