"""ntjp-producer: Socialstyrelsen's RIV-TA producer for FMB and HoSp."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ntjp-producer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
