from django.contrib import admin

from corpora.models import Corpus, CorpusImage, ImageAsset, Item


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "created_at"]
    search_fields = ["name"]


@admin.register(ImageAsset)
class ImageAssetAdmin(admin.ModelAdmin):
    list_display = ["sha256", "format", "width", "height", "size_bytes"]
    search_fields = ["sha256"]


@admin.register(CorpusImage)
class CorpusImageAdmin(admin.ModelAdmin):
    list_display = ["corpus", "path", "asset"]
    list_select_related = ["corpus", "asset"]
    search_fields = ["path"]
    raw_id_fields = ["asset"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "corpus", "category", "has_candidates", "updated_at"]
    list_filter = ["corpus", "category", "has_candidates"]
    search_fields = ["external_id"]
    raw_id_fields = ["image"]
