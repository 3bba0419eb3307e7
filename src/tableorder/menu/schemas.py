from typing import Annotated

import msgspec

from tableorder.kit import Id

CategoryName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
ItemName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
Price = Annotated[int, msgspec.Meta(ge=0, le=10_000_000, description="Integer won")]
ImageUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s]+$")]
SortOrder = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]


class CategoryCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new menu category; lower `sort_order` comes first."""

    name: CategoryName
    sort_order: SortOrder = 0


class CategoryUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change."""

    name: CategoryName | msgspec.UnsetType = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET



class MenuItemCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new menu item in a category of the store; `available: false` adds it sold out."""

    category_id: Id
    name: ItemName
    price: Price
    description: Description = ""
    image_url: ImageUrl | None = None
    sort_order: SortOrder = 0
    available: bool = True


class MenuItemUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change; `image_url: null` removes the picture."""

    category_id: Id | msgspec.UnsetType = msgspec.UNSET
    name: ItemName | msgspec.UnsetType = msgspec.UNSET
    price: Price | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    image_url: ImageUrl | msgspec.UnsetType | None = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
    available: bool | msgspec.UnsetType = msgspec.UNSET
