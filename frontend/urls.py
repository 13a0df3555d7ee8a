from django.urls import path

from frontend import browse_views, people_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("corpora/", views.corpora, name="corpora"),
    path("people/", people_views.people, name="people"),
    path("invite/<str:token>/", people_views.invite, name="invite"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<int:project_id>/", views.project_dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/edit/", views.project_edit, name="project-edit"),
    path("projects/<int:project_id>/annotate/", views.project_annotate, name="project-annotate"),
    path("projects/<int:project_id>/review/", views.project_review, name="project-review"),
    # The data browser: items of a corpus, a project, a dataset version; one item.
    path("corpora/<int:corpus_id>/items/", browse_views.browse_corpus, name="data-browser-corpus"),
    path(
        "projects/<int:project_id>/items/",
        browse_views.browse_project,
        name="data-browser-project",
    ),
    path(
        "datasets/<int:dataset_id>/items/",
        browse_views.browse_dataset,
        name="data-browser-dataset",
    ),
    path("items/<int:item_id>/", browse_views.item_page, name="item-detail"),
]
