# Sourced by the setup/demo/test scripts: where the cache, the venv and libtorch live.
export FER_RT_CACHE="${FER_RT_CACHE:-$HOME/.cache/fer-rt}"
export FER_RT_VENV="$FER_RT_CACHE/venv"
export FER_RT_PYTHON="$FER_RT_VENV/bin/python"
export FER_RT_MEDIA="$FER_RT_CACHE/media"
_site="$FER_RT_VENV/lib/python3.11/site-packages"
if [ ! -d "$_site" ]; then   # another python3 minor version; before setup, none exists yet
  for _d in "$FER_RT_VENV"/lib/python3*/site-packages; do [ -d "$_d" ] && _site="$_d" && break; done
  unset _d
fi
export LIBTORCH="$_site/torch"
export LIBTORCH_CXX11_ABI=1
# The binary carries an rpath to these; the path is for tools that load libtorch otherwise.
export LD_LIBRARY_PATH="$LIBTORCH/lib:$_site/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _site
