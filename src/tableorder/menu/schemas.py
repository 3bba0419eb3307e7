from datetime import datetime
from typing import Annotated

import msgspec

from tableorder.documents import LanguageCode, PriceDelta
from tableorder.kit import Id

CategoryName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
ItemName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
OptionName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
Price = Annotated[int, msgspec.Meta(ge=0, le=10_000_000, description="Integer won")]
ImageUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s]+$")]
SortOrder = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
MinSelect = Annotated[int, msgspec.Meta(ge=0, le=20, description="The fewest options a line takes (≥ 1: required)")]
MaxSelect = Annotated[int, msgspec.Meta(ge=1, le=20, description="The most options a line takes (≥ min)")]
SoldOutUntil = Annotated[datetime, msgspec.Meta(
    tz=True, description="When the sold-out item comes back by itself: a future instant, only with `available: "
                         "false` (null: sold out until staff say otherwise)")]


class TranslatedName(msgspec.Struct, forbid_unknown_fields=True):
    """A category's, option group's or option's name in another language."""

    name: CategoryName


class TranslatedItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A menu item's name and description in another language (without a description, the working
    language's is shown)."""

    name: ItemName
    description: Description | msgspec.UnsetType = msgspec.UNSET


# By language code; a PATCH replaces the whole set. Names without one show in the working language.
NameTranslations = Annotated[dict[LanguageCode, TranslatedName], msgspec.Meta(
    description="The name in other languages, by language code (ko, en, ja, zh)")]
ItemTranslations = Annotated[dict[LanguageCode, TranslatedItem], msgspec.Meta(
    description="The name and description in other languages, by language code (ko, en, ja, zh)")]


class CategoryCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new menu category; lower `sort_order` comes first. `station_id`: the kitchen station its items go to."""

    name: CategoryName
    sort_order: SortOrder = 0
    station_id: Id | None = None
    translations: NameTranslations = {}


class CategoryUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change (`station_id: null` routes its items nowhere; `translations` replaces
    them all)."""

    name: CategoryName | msgspec.UnsetType = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
    station_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    translations: NameTranslations | msgspec.UnsetType = msgspec.UNSET


class MenuItemCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new menu item in a category of the store; `available: false` adds it sold out. `station_id`
    overrides its category's station."""

    category_id: Id
    name: ItemName
    price: Price
    description: Description = ""
    image_url: ImageUrl | None = None
    sort_order: SortOrder = 0
    available: bool = True
    station_id: Id | None = None
    translations: ItemTranslations = {}


class MenuItemUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change; `image_url: null` removes the picture. `available: false` with
    `sold_out_until` marks it sold out until then; `available: true` clears `sold_out_until`."""

    category_id: Id | msgspec.UnsetType = msgspec.UNSET
    name: ItemName | msgspec.UnsetType = msgspec.UNSET
    price: Price | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    image_url: ImageUrl | msgspec.UnsetType | None = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
    available: bool | msgspec.UnsetType = msgspec.UNSET
    sold_out_until: SoldOutUntil | msgspec.UnsetType | None = msgspec.UNSET
    station_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    translations: ItemTranslations | msgspec.UnsetType = msgspec.UNSET


class OptionGroupCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new option group of a menu item (at most 20 an item): a line takes between `min` and `max` of its
    options."""

    name: OptionName
    min: MinSelect
    max: MaxSelect
    sort_order: SortOrder = 0
    translations: NameTranslations = {}


class OptionGroupUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change (`min` must stay ≤ `max`)."""

    name: OptionName | msgspec.UnsetType = msgspec.UNSET
    min: MinSelect | msgspec.UnsetType = msgspec.UNSET
    max: MaxSelect | msgspec.UnsetType = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
    translations: NameTranslations | msgspec.UnsetType = msgspec.UNSET


class OptionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new option of an option group (at most 30 a group); `price_delta` is added to the unit price (integer
    won, may be negative); `available: false` adds it sold out."""

    name: OptionName
    price_delta: PriceDelta
    available: bool = True
    sort_order: SortOrder = 0
    translations: NameTranslations = {}


class OptionUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change (`available: false` marks the option sold out)."""

    name: OptionName | msgspec.UnsetType = msgspec.UNSET
    price_delta: PriceDelta | msgspec.UnsetType = msgspec.UNSET
    available: bool | msgspec.UnsetType = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
    translations: NameTranslations | msgspec.UnsetType = msgspec.UNSET
