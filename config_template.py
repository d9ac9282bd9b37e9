"""Optional settings file. Copy it to config.py (git-ignored) and change what you need.

Nothing has to be set: every setting has a working default. Precedence, lowest to highest:
the defaults, this file (as config.py, or the file named by $LEMONS_CONFIG), then environment
variables LEMONS_<NAME> (e.g. LEMONS_DATA_DIR=/data/lemons). `lemons config` shows the result.
Only UPPER-CASE names are read; an unknown name is an error, so typos do not go unnoticed.
"""

# Root for the default locations below (default: the source checkout, else ~/.lemons).
# HOME = "/path/to/lemons-home"

# Datasets and caches (default: HOME/data).
# DATA_DIR = "/data/lemons"

# The built-in catalogue, written by `lemons data build` (default: DATA_DIR/builtin).
# CATALOGUE_DIR = "/data/lemons/builtin"

# Trained recommender checkpoints (default: HOME/models).
# MODELS_DIR = "/data/lemons/models"

# Sacred FileStorage runs of training and evaluation (default: HOME/runs).
# RUNS_DIR = "/data/lemons/runs"

# Separation, explanation, feature and score caches, and the page's uploads (default: DATA_DIR/cache).
# CACHE_DIR = "/data/lemons/cache"

# Size limit of those caches in GB (10^9 bytes); past it, the entries used least recently are
# removed. 0: no limit. `lemons cache info` shows what they hold.
# CACHE_MAX_GB = 10

# Spleeter's pretrained models, i.e. its MODEL_PATH (default: DATA_DIR/pretrained_models).
# SPLEETER_MODEL_DIR = "/data/lemons/pretrained_models"

# Real datasets, when you have them (default: not configured).
# MSD_DIR = "/data/msd"            # Million Song Dataset + Taste Profile + 7digital snippets
# MUSDB_DIR = "/data/musdb18"      # musdb18 (.stem.mp4) or musdb18hq (wav folders)
# AUDIO_FOLDER = "~/Music/demo"    # a folder of your own audio files, or several:
# AUDIO_FOLDER = ["~/Music/demo", "/srv/music"]    # (LEMONS_AUDIO_FOLDER=~/Music/demo:/srv/music)
# The demo page opens typed-in folders only inside these; with none set it offers no folder.

# Uploads to the demo page: the largest file (MB of 2^20 bytes) and the longest recording it accepts,
# and how long an upload is kept unused (it is removed when its session ends, or after this long).
# UPLOAD_MAX_MB = 50
# UPLOAD_MAX_MINUTES = 10
# UPLOAD_MAX_AGE_HOURS = 24

# "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
# DEVICE = "auto"

# Worker processes for catalogue builds and data loading.
# NUM_WORKERS = 2

# Sacred MongoObserver: empty means runs are logged to files only.
# MONGO_URL = "mongodb://127.0.0.1:27017"
# MONGO_DB = "lemons"
