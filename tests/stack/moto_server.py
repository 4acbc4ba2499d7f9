"""moto's server, with two of its costs that grow with the table cut.

1. moto remembers every model object it ever made (each DynamoDB item, each
   copy a transaction takes of one) so that `/moto-api/data.json` can dump
   them, and never forgets one. The local stack reads that endpoint for one
   thing, the raw emails SES accepted (`tests/local/src/mailbox.rs`); with
   the table's items in it every read grew slower, and the process larger,
   as a test went on. Here only SES's (and SES v2's) objects are remembered.
2. A `TransactWriteItems` deep-copied every table it names, whole, to roll
   back on failure: each transaction cost time in proportion to the table.
   Here it keeps a copy of the items it names (and the stream's length)
   instead, and puts those back when it fails. What a caller sees is the
   same: all of a transaction's writes, or none.

3. moto serves requests on threads of its own, and nothing stops one
   request's write landing in the middle of another's transaction (or of
   its rollback, which would then undo it). Here DynamoDB's reads and
   writes take one lock, so a transaction is isolated as in DynamoDB.

Otherwise this is the pinned moto, started with `moto_server`'s arguments.
"""

import copy
import functools
import sys
import threading

import moto.dynamodb.models as dynamodb
from moto.core.common_models import BaseModel
from moto.dynamodb.models.table import Table


def _new(cls, *args, **kwargs):
    instance = super(BaseModel, cls).__new__(cls)
    if cls.__module__.startswith("moto.ses"):
        cls.instances_tracked.append(instance)
    return instance


BaseModel.__new__ = staticmethod(_new)


class _Copy:
    """`copy` as moto's DynamoDB backend sees it: a table "copied" for a
    transaction's rollback is the table itself (see `_transact` for the
    rollback); everything else is copied as before."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(x, memo=None):
        if isinstance(x, Table):
            return x
        return copy.deepcopy(x, memo)


dynamodb.copy = _Copy()
_transact_write_items = dynamodb.DynamoDBBackend.transact_write_items


def _transact(self, transact_items):
    undo = []
    for entry in transact_items:
        op = next(iter(entry.values()), None)
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        attrs = op.get("Key") or op.get("Item") or {}
        try:
            hash_key, range_key = self.get_keys_value(table, attrs)
        except Exception:
            continue  # moto refuses it before writing anything
        old = table.get_item(hash_key, range_key)
        undo.append((table, hash_key, range_key, copy.deepcopy(old)))
    streams = {}
    for table, *_ in undo:
        if table.stream_shard is not None:
            streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, old in reversed(undo):
            if range_key is None:
                if old is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = old
            elif old is None:
                table.items.get(hash_key, {}).pop(range_key, None)
                if hash_key in table.items and not table.items[hash_key]:
                    del table.items[hash_key]
            else:
                table.items[hash_key][range_key] = old
        for shard, length in streams.values():
            del shard.items[length:]
        raise


dynamodb.DynamoDBBackend.transact_write_items = _transact

_lock = threading.RLock()


def _locked(method):
    @functools.wraps(method)
    def run(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return run


for _name in (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_write_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
):
    if hasattr(dynamodb.DynamoDBBackend, _name):
        setattr(dynamodb.DynamoDBBackend, _name, _locked(getattr(dynamodb.DynamoDBBackend, _name)))

from moto.server import main  # noqa: E402  (after the patches, on purpose)

if __name__ == "__main__":
    sys.exit(main())
