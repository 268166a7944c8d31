from alembic import context

from ntjp_producer.fmb import models as _fmb_models  # noqa: F401  (registers tables)
from ntjp_producer.hosp import models as _hosp_models  # noqa: F401
from ntjp_producer.ops import models as _ops_models  # noqa: F401
from ntjp_producer.storage.base import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - only when alembic is run by hand
        from ntjp_producer.storage.db import engine_for

        with engine_for(config.get_main_option("sqlalchemy.url")).begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


run()
