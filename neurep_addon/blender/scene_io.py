"""Scene objects <-> numpy: what the selected objects observed, and the completed mesh as a new object.

Everything here runs on Blender's main thread and moves geometry with ``foreach_get`` / ``foreach_set``
(no per-vertex Python loops). Positions cross this boundary in world space, float64 [N, 3].

Inputs, per selected object, after modifiers and geometry nodes (the evaluated geometry):
- faces -> area-weighted surface samples carrying their face normals (the same rule the command line
  applies to mesh files, ``core.observation.sample_mesh``);
- vertices without faces, point clouds, geometry-nodes point output -> the points themselves, no normals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Matrix

from ..core import placement
from ..core.config import DATA_HALF_EXTENT
from ..core.errors import InputError
from ..core.holes import Boundary
from ..core.observation import MESH_SAMPLES, Observation, merge, sample_mesh

SUPPORTED_TYPES = {"MESH", "POINTCLOUD"}
DISTANCE_ATTRIBUTE = "neurep_distance"
"""Float point attribute of the result: distance from each vertex to the nearest observed point."""
DISTANCE_COLOR_ATTRIBUTE = "neurep_distance_color"
"""Colour attribute of the result: grey where the surface was observed, orange where it was invented."""
INVENTED_DISTANCE_FRACTION = 0.05
"""A vertex this far from the data (as a fraction of the result's diagonal) is fully 'invented' in colour."""
INVENTED_ATTRIBUTE = "neurep_invented"
"""Boolean face attribute of the result: True on faces NeuRep invented (they use the invented material)."""
INVENTED_THRESHOLD_PROPERTY = "neurep_invented_threshold"
"""Custom property of the result: the distance (world units) beyond which a face counts as invented."""
INVENTED_MATERIAL_NAME = "NeuRep: invented"
INVENTED_MATERIAL_TAG = "neurep_invented_material"
INVENTED_RGBA = (1.0, 0.35, 0.05, 1.0)
PREVIEW_TAG = "neurep_preview"
"""Custom property that marks a preview object and holds the name it was made for (``naming.preview_name``):
previews are found by it, never by the object's name, so a user's object of that name is never touched and
a preview that Blender had to name ``<name>.001`` is still found and reused."""


@dataclass
class SelectionSummary:
    """What the panel shows about a selection, from the original (unevaluated) data: cheap to compute."""

    objects: list[str]
    ignored: list[str]
    points: int
    faces: int

    @property
    def has_face_normals(self) -> bool:
        return self.faces > 0


def summarize_selection(objects) -> SelectionSummary:
    """Counts over the selected objects; modifiers and geometry nodes are only evaluated at Complete."""
    usable = [ob for ob in objects if ob.type in SUPPORTED_TYPES]
    points = sum(len(ob.data.vertices) if ob.type == "MESH" else len(ob.data.points) for ob in usable)
    faces = sum(len(ob.data.polygons) for ob in usable if ob.type == "MESH")
    return SelectionSummary([ob.name for ob in usable],
                            [ob.name for ob in objects if ob.type not in SUPPORTED_TYPES], points, faces)


def usable_objects(objects) -> list:
    """The meshes and point clouds among ``objects``; raises ``InputError`` naming what is wrong."""
    objects = list(objects)
    if not objects:
        raise InputError("nothing is selected; select the scan (a mesh or point cloud) and try again")
    usable = [ob for ob in objects if ob.type in SUPPORTED_TYPES]
    if not usable:
        described = ", ".join(f"'{ob.name}' ({ob.type.lower()})" for ob in objects)
        raise InputError(f"the selection holds no mesh or point cloud: {described}; "
                         "select the scan object and try again")
    return usable


def observation_from_objects(objects, depsgraph, seed: int = 0, mesh_samples: int | None = None) -> Observation:
    """One merged observation, in world space, from the meshes and point clouds among ``objects``.

    Objects of other types are skipped with a note; raises ``InputError`` if nothing usable remains or the
    geometry holds no points at all. ``mesh_samples`` defaults to the command line's count for mesh files.
    The cursor shows the progress (objects read, faces wound, surface sampled): a selection of a million
    vertices takes seconds.
    """
    mesh_samples = MESH_SAMPLES if mesh_samples is None else mesh_samples

    usable = usable_objects(objects)
    ignored = [ob.name for ob in objects if ob.type not in SUPPORTED_TYPES]
    triangles, clouds = [], []
    notes = []
    window_manager = bpy.context.window_manager
    window_manager.progress_begin(0, len(usable) + 2)
    try:
        for index, ob in enumerate(usable):
            surface, points = _evaluated_geometry(ob, depsgraph)
            check_finite(ob, np.concatenate([surface[0], points]) if surface is not None else points)
            if surface is not None:
                triangles.append(surface)
                used = np.zeros(len(surface[0]), dtype=bool)
                used[surface[1].ravel()] = True
                loose = len(used) - int(np.count_nonzero(used))
                if loose:
                    notes.append(f"ignored {loose:,} loose vertices of '{ob.name}' (on no face)")
            if len(points):
                clouds.append(points)
            window_manager.progress_update(index + 1)
        if not triangles and not clouds:
            names = ", ".join(f"'{ob.name}'" for ob in usable)
            raise InputError(f"{names}: no points after modifiers (empty geometry); nothing to complete")

        observations = [Observation(points) for points in clouds]
        if triangles:
            vertices = np.concatenate([v for v, _ in triangles])
            offsets = np.cumsum([0] + [len(v) for v, _ in triangles[:-1]])
            faces = np.concatenate([f + offset for (_, f), offset in zip(triangles, offsets)])
            faces, turned = placement.outward_faces(vertices, faces)
            if turned:
                notes.append(f"turned {turned:,} of {len(faces):,} triangles over so that every part faces "
                             "outwards (a part wound the other way, such as a mirrored copy joined to its original)")
            window_manager.progress_update(len(usable) + 1)
            observations.append(sample_mesh(vertices, faces, mesh_samples, seed))  # InputError: no area
    finally:
        window_manager.progress_end()
    observation = merge(observations)
    observation.notes += tuple(notes)
    if ignored:
        observation.notes += (f"ignored {', '.join(ignored)} (not a mesh or point cloud)",)
    return observation


def collection_meshes(collection, depsgraph) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[str]]:
    """The complete models of ``collection`` and of the collections inside it, by name: (object name, world
    vertices [V, 3], triangles [F, 3]) after modifiers, and the names of the objects skipped (no faces, or
    not a mesh). Raises ``InputError`` for non-finite geometry."""
    meshes, skipped = [], []
    for ob in sorted(collection.all_objects, key=lambda ob: ob.name):
        surface = _evaluated_geometry(ob, depsgraph)[0] if ob.type in SUPPORTED_TYPES else None
        if surface is None:
            skipped.append(ob.name)
            continue
        check_finite(ob, surface[0])
        meshes.append((ob.name, *surface))
    return meshes, skipped


def check_finite(ob, vertices: np.ndarray) -> None:
    """Raise ``InputError`` naming ``ob`` (and its modifiers) when any of its ``vertices`` [N, 3] is NaN or
    infinite: a modifier or geometry-nodes setup that overflows or divides by zero."""
    bad = ~np.isfinite(vertices).all(axis=1)
    if not bad.any():
        return
    modifiers = [m.name for m in getattr(ob, "modifiers", ())]
    where = f"after its modifiers ({', '.join(modifiers)})" if modifiers else "in its data"
    raise InputError(f"'{ob.name}': {int(bad.sum()):,} of {len(vertices):,} vertices have NaN or infinite "
                     f"coordinates {where}; fix or turn off what produces them and try again (nothing was "
                     "created)")


def source_fingerprint(ob) -> int:
    """A hash of what a fit reads from ``ob`` before its modifiers: type, transform, element counts and
    positions; it differs once the object is moved or its geometry is edited."""
    data = ob.data
    if ob.type == "MESH":
        positions, counts = _read_vectors(data.vertices, "co"), (len(data.polygons), len(data.loops))
    elif ob.type == "POINTCLOUD":
        positions, counts = _read_vectors(data.points, "co"), ()
    else:
        positions, counts = np.empty((0, 3)), ()
    matrix = np.array(ob.matrix_world, dtype=np.float64)
    return hash((ob.type, counts, positions.tobytes(), matrix.tobytes(), tuple(m.name for m in ob.modifiers)))


def find_object(session_uid: int, name: str):
    """The object a run was started on: by its session id, which survives renaming and undo; by ``name``
    only when no id was recorded. None once it was deleted."""
    if not session_uid:
        return bpy.data.objects.get(name)
    return next((ob for ob in bpy.data.objects if ob.session_uid == session_uid), None)


def _evaluated_geometry(ob, depsgraph) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray]:
    """World-space (triangle vertices [V, 3], triangles int [T, 3]) or None, and loose points [P, 3]."""
    evaluated = ob.evaluated_get(depsgraph)
    matrix = np.array(evaluated.matrix_world, dtype=np.float64)
    if hasattr(evaluated, "evaluated_geometry"):  # Blender 5.0+: meshes and points from geometry nodes
        geometry = evaluated.evaluated_geometry()
        mesh, cloud = geometry.mesh, geometry.pointcloud
        surface, points = _mesh_arrays(mesh, matrix) if mesh is not None else (None, np.empty((0, 3)))
        if cloud is not None:
            points = np.concatenate([points, _to_world(_read_vectors(cloud.points, "co"), matrix)])
        return surface, points
    if ob.type == "POINTCLOUD":
        return None, _to_world(_read_vectors(evaluated.data.points, "co"), matrix)
    mesh = evaluated.to_mesh()
    try:
        return _mesh_arrays(mesh, matrix)
    finally:
        evaluated.to_mesh_clear()


def _mesh_arrays(mesh, matrix: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray]:
    """A mesh's triangles in world space (wound the other way when ``matrix`` mirrors, so they face the way
    Blender shows them), or (None, its vertices) when it has no faces."""
    vertices = _to_world(_read_vectors(mesh.vertices, "co"), matrix)
    if len(mesh.polygons) == 0:
        return None, vertices
    mesh.calc_loop_triangles()
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", triangles)
    return (vertices, placement.oriented(triangles.reshape(-1, 3).astype(np.int64), matrix)), np.empty((0, 3))


def read_array(collection, name: str, count: int, dtype, width: int = 1) -> np.ndarray:
    """``collection``'s ``name`` for ``count`` items, [count] or [count, width]."""
    values = np.empty(count * width, dtype=dtype)
    collection.foreach_get(name, values)
    return values.reshape(-1, width) if width > 1 else values


def _read_vectors(collection, name: str) -> np.ndarray:
    values = np.empty(len(collection) * 3, dtype=np.float32)
    collection.foreach_get(name, values)
    return values.reshape(-1, 3).astype(np.float64)


def _to_world(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite input is named by ``check_finite``
        return placement.transform(points, matrix)


TRANSFERRED_TYPES = {"FLOAT": ("value", 1), "FLOAT2": ("vector", 2), "FLOAT_VECTOR": ("vector", 3),
                     "FLOAT_COLOR": ("color", 4), "BYTE_COLOR": ("color", 4)}
"""Attribute types a result takes over from its source (property read and written, components)."""


@dataclass
class SourceSurface:
    """A source object's evaluated surface in world space and what a result takes over from it.

    triangles: float64 [T, 3, 3]; materials: each triangle's material index int [T];
    layers: (name, data type, domain, values at the triangles' corners float [T, 3, C]) of its UV maps,
    colour attributes and other float point and corner attributes; active and render UV map and colour names.
    """

    triangles: np.ndarray
    materials: np.ndarray
    layers: list[tuple[str, str, str, np.ndarray]]
    active_uv: str | None = None
    render_uv: str | None = None
    active_color: str | None = None
    render_color: str | None = None


def source_surface(ob, depsgraph) -> SourceSurface | None:
    """What a result of ``ob`` takes over (after its modifiers), from its faces, or from its points when it
    has none (a point cloud, a mesh of vertices only: each point stands as a triangle of no size)."""
    if ob.type not in SUPPORTED_TYPES:
        return None
    evaluated = ob.evaluated_get(depsgraph)
    matrix = np.array(evaluated.matrix_world, dtype=np.float64)
    if ob.type == "POINTCLOUD":
        cloud = evaluated.data
        points = _read_vectors(cloud.points, "co")
        if not len(points):
            return None
        corners = np.repeat(np.arange(len(points)), 3)
        layers = _layers(cloud.attributes, {"POINT": corners}, len(points))
        color = next((name for name, kind, _, _ in layers if kind in ("FLOAT_COLOR", "BYTE_COLOR")), None)
        return SourceSurface(_to_world(points, matrix)[corners].reshape(-1, 3, 3), np.zeros(len(points), np.int32),
                             layers, active_color=color, render_color=color)
    mesh = evaluated.to_mesh()
    try:
        vertices = _to_world(_read_vectors(mesh.vertices, "co"), matrix)
        if not len(vertices):
            return None
        if len(mesh.polygons) == 0:
            corners = np.repeat(np.arange(len(vertices)), 3)
            return SourceSurface(vertices[corners].reshape(-1, 3, 3), np.zeros(len(vertices), np.int32),
                                 _layers(mesh.attributes, {"POINT": corners}, len(vertices)),
                                 *_active_layers(mesh))
        mesh.calc_loop_triangles()
        count = len(mesh.loop_triangles)
        corners = {domain: np.empty(count * 3, dtype=np.int32) for domain in ("POINT", "CORNER")}
        mesh.loop_triangles.foreach_get("vertices", corners["POINT"])
        mesh.loop_triangles.foreach_get("loops", corners["CORNER"])
        polygon = np.empty(count, dtype=np.int32)
        mesh.loop_triangles.foreach_get("polygon_index", polygon)
        materials = np.empty(len(mesh.polygons), dtype=np.int32)
        mesh.polygons.foreach_get("material_index", materials)
        return SourceSurface(vertices[corners["POINT"]].reshape(count, 3, 3), materials[polygon],
                             _layers(mesh.attributes, corners, count), *_active_layers(mesh))
    finally:
        evaluated.to_mesh_clear()


def _layers(attributes, corners: dict, count: int) -> list[tuple[str, str, str, np.ndarray]]:
    """The transferred attributes among ``attributes``, at the triangles' corners: ``corners[domain]`` holds
    the element of each of the ``count`` triangles' corners (int [count * 3]) for the domains read."""
    layers = []
    for attribute in attributes:
        kind = TRANSFERRED_TYPES.get(attribute.data_type)
        if kind is None or attribute.domain not in corners or attribute.name == "position" \
                or attribute.name.startswith((".", "neurep_")):
            continue
        values = np.empty(len(attribute.data) * kind[1], dtype=np.float32)
        attribute.data.foreach_get(kind[0], values)
        layers.append((attribute.name, attribute.data_type, attribute.domain,
                       values.reshape(-1, kind[1])[corners[attribute.domain]].reshape(count, 3, kind[1])))
    return layers


def _active_layers(mesh) -> tuple[str | None, str | None, str | None, str | None]:
    """A mesh's active and render UV map, then its active and render colour attribute (None: none)."""
    uv, colors = mesh.uv_layers, mesh.color_attributes
    render_color = colors[colors.render_color_index].name if 0 <= colors.render_color_index < len(colors) \
        else None
    return (uv.active.name if uv.active is not None else None,
            next((layer.name for layer in uv if layer.active_render), None),
            colors.active_color_name or None, render_color)


def take_over(mesh, vertices: np.ndarray, faces: np.ndarray, surface: SourceSurface) -> None:
    """Give ``mesh`` (world-space ``vertices`` [V, 3], its triangles ``faces`` [F, 3] in loop order) the
    source's material indices, UV maps, colours and other point and corner attributes, from the nearest
    source surface: each face from the source triangle nearest its centre (UVs extend that triangle's
    layout linearly, so no face straddles a seam), each point from its nearest surface point. Invented
    faces get them too, from the nearest observed surface."""
    from ..core import transfer

    source, weights = transfer.face_sources(vertices, faces, surface.triangles)
    mesh.polygons.foreach_set("material_index", surface.materials[source].astype(np.int32))
    point_source = point_weights = None
    for name, data_type, domain, values in surface.layers:
        if name in mesh.attributes:
            continue
        if domain == "POINT":
            if point_source is None:
                point_source, point_weights, _ = transfer.closest_points(vertices, surface.triangles)
            result = transfer.interpolate(values[point_source], point_weights)
        else:
            corner_weights = weights if data_type == "FLOAT2" else _convex(weights)
            result = transfer.corner_values(values[source], corner_weights).reshape(-1, values.shape[-1])
        attribute = mesh.attributes.new(name, data_type, domain)
        attribute.data.foreach_set(TRANSFERRED_TYPES[data_type][0], result.astype(np.float32).ravel())
    uv, colors = mesh.uv_layers, mesh.color_attributes
    if surface.active_uv and surface.active_uv in uv:
        uv.active = uv[surface.active_uv]
    if surface.render_uv and surface.render_uv in uv:
        uv[surface.render_uv].active_render = True
    if surface.active_color and surface.active_color in colors:
        colors.active_color = colors[surface.active_color]
    if surface.render_color and surface.render_color in colors:
        colors.render_color_index = colors.find(surface.render_color)


def _convex(weights: np.ndarray) -> np.ndarray:
    """Weights clamped to the triangle (colours and the like are not extrapolated)."""
    clamped = np.clip(weights, 0.0, None)
    return clamped / np.maximum(clamped.sum(axis=-1, keepdims=True), 1e-12)


def set_mesh_geometry(mesh, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Replace ``mesh``'s geometry with vertices float [V, 3] and triangles int [F, 3]."""
    mesh.clear_geometry()
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", np.asarray(vertices, dtype=np.float32).ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", np.asarray(faces, dtype=np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.update(calc_edges=True)


def target_collection(source, scene):
    """The collection the result goes to: the source object's first collection, else the scene's."""
    return source.users_collection[0] if source.users_collection else scene.collection


def primary_source(objects, active):
    """The object the result is named after and placed next to: the active one if usable, else the first."""
    usable = usable_objects(objects)
    return active if active in usable else sorted(usable, key=lambda ob: ob.name)[0]


def create_result_object(name: str, collection, vertices: np.ndarray, faces: np.ndarray,
                         distance: np.ndarray, matrix_world=None, materials=(), invented_threshold=None,
                         surface: SourceSurface | None = None):
    """A new mesh object ``name`` in ``collection`` with the ``neurep_distance`` float attribute and its
    colour view; returns the object.

    ``vertices`` are world space and ``faces`` face outwards there. With ``matrix_world`` (4x4, the
    source's), the object gets that transform and its mesh data holds the vertices in that local space, so
    it lines up with its source and shares its origin; its faces are wound to face outwards when the
    transform mirrors. Vertices too far from that origin for float32 are stored around their centre, the
    object's origin moved there (``core.placement.storage``). ``materials`` (Material or None) become its
    first slots. With ``invented_threshold`` (world units), faces whose vertices lie farther than that from
    the scan on average go to one more slot, "NeuRep: invented", and are flagged in the boolean face
    attribute ``neurep_invented``. With
    ``surface`` (the source's, ``source_surface``), it takes over the source's material indices, UV maps
    and colours (``take_over``); the source's active and render colours then stay active.
    """
    matrix, local, faces = placement.storage(vertices, faces, None if matrix_world is None else
                                             np.array(matrix_world, dtype=np.float64))
    mesh = bpy.data.meshes.new(name)
    set_mesh_geometry(mesh, local, faces)
    attribute = mesh.attributes.new(DISTANCE_ATTRIBUTE, "FLOAT", "POINT")
    attribute.data.foreach_set("value", np.asarray(distance, dtype=np.float32))
    colors = mesh.color_attributes.new(DISTANCE_COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
    colors.data.foreach_set("color", distance_colors(distance, vertices).ravel())
    mesh.color_attributes.active_color = colors
    mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    for material in materials:
        mesh.materials.append(material)
    if surface is not None:
        take_over(mesh, vertices, faces, surface)
    if invented_threshold is not None:
        mark_invented(mesh, invented_faces(faces, distance, invented_threshold))
    mesh.shade_smooth()
    ob = bpy.data.objects.new(name, mesh)
    ob.matrix_basis = Matrix(matrix.tolist())  # no parent: the basis is the world transform
    if invented_threshold is not None:
        ob[INVENTED_THRESHOLD_PROPERTY] = float(invented_threshold)
    collection.objects.link(ob)
    return ob


def invented_threshold(points: np.ndarray, resolution: int, factor: float) -> float:
    """World distance from the scan beyond which the surface counts as invented: ``factor`` times the scan's
    point spacing, and never less than one cell of the marching-cubes grid (the result's own precision)."""
    from ..core.normals import point_spacing  # scipy: loads when a fit starts

    extent = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    cell = extent / (DATA_HALF_EXTENT * max(resolution, 1))  # the fit box's longest half side maps to this
    return max(factor * point_spacing(points, queries=5000), cell)


def invented_faces(faces: np.ndarray, distance: np.ndarray, threshold: float) -> np.ndarray:
    """bool [F]: faces whose corners are, on average, farther than ``threshold`` from the scan."""
    return np.asarray(distance, dtype=np.float64)[faces].mean(axis=1) > threshold


def mark_invented(mesh, invented: np.ndarray) -> None:
    """Put the faces flagged in ``invented`` (bool [F]) in the "NeuRep: invented" slot and flag them in the
    boolean face attribute ``neurep_invented``; the other faces keep their material and flag.

    The slot is added after the mesh's own (after an empty first one when it has none) unless the mesh
    already has it; an existing ``neurep_invented`` face attribute is kept and extended.
    """
    material = invented_material()
    slots = list(mesh.materials)
    if material not in slots:
        if not slots:
            mesh.materials.append(None)  # the observed surface keeps an empty first slot
        mesh.materials.append(material)
        slots = list(mesh.materials)
    slot = slots.index(material)
    invented = np.asarray(invented, dtype=bool)
    attribute = mesh.attributes.get(INVENTED_ATTRIBUTE)
    flags = np.zeros(len(mesh.polygons), dtype=bool)
    if attribute is not None and (attribute.data_type, attribute.domain) == ("BOOLEAN", "FACE"):
        attribute.data.foreach_get("value", flags)
    else:
        if attribute is not None:
            mesh.attributes.remove(attribute)
        attribute = mesh.attributes.new(INVENTED_ATTRIBUTE, "BOOLEAN", "FACE")
    attribute.data.foreach_set("value", flags | invented)
    indices = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", indices)
    mesh.polygons.foreach_set("material_index", np.where(invented, slot, indices).astype(np.int32))


def invented_material():
    """The shared "NeuRep: invented" material: orange in Solid mode (viewport display) and in renders."""
    material = next((m for m in bpy.data.materials if m.get(INVENTED_MATERIAL_TAG)), None)
    if material is None:
        material = bpy.data.materials.new(INVENTED_MATERIAL_NAME)
        material[INVENTED_MATERIAL_TAG] = True
        material.diffuse_color = INVENTED_RGBA
        if material.node_tree is None:  # Blender 4.x makes materials without nodes
            material.use_nodes = True
        shader = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
        if shader is not None:
            shader.inputs["Base Color"].default_value = INVENTED_RGBA
    return material


def distance_colors(distance: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """RGBA float32 [V, 4]: light grey (observed) to orange (invented), scaled by the mesh diagonal."""
    diagonal = float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0))) if len(vertices) else 1.0
    invented = np.clip(distance / max(INVENTED_DISTANCE_FRACTION * diagonal, 1e-12), 0.0, 1.0)[:, None]
    observed_rgba = np.array([0.8, 0.8, 0.8, 1.0], dtype=np.float32)
    invented_rgba = np.array(INVENTED_RGBA, dtype=np.float32)
    return ((1.0 - invented) * observed_rgba + invented * invented_rgba).astype(np.float32)


def parent_like(result, source) -> None:
    """Give ``result`` the parent ``source`` has (object, bone or vertex parent, as it is), keeping where
    ``result`` is in the world: moving the parent then moves the scan and its result together."""
    if source.parent is None:
        return
    world = result.matrix_basis.copy()  # no parent yet: the basis is the world transform
    result.parent = source.parent
    result.parent_type = source.parent_type
    result.parent_bone = source.parent_bone
    result.parent_vertices = source.parent_vertices
    result.matrix_parent_inverse = source.matrix_parent_inverse.copy()
    result.matrix_world = world


def show_preview(name: str, collection, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Create or update the preview object ``name`` (a wireframe-over-solid coarse surface) from world-space
    ``vertices``; stored as results are, so a preview far from the world origin keeps its detail. A user's
    object already called ``name`` is left alone (the preview is then ``<name>.001``, reused on each update)."""
    ob = find_preview(name)
    if ob is None:
        ob = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        ob[PREVIEW_TAG] = name
        ob.show_wire = True
        ob.hide_select = True
        collection.objects.link(ob)
    matrix, local, faces = placement.storage(vertices, faces)
    set_mesh_geometry(ob.data, local, faces)
    ob.matrix_basis = Matrix(matrix.tolist())


def find_preview(name: str):
    """The preview object made for ``name`` (by its tag, whatever Blender called it), or None."""
    return next((ob for ob in bpy.data.objects if _preview_of(ob) == name), None)


def _preview_of(ob) -> str | None:
    """The name a preview object was made for; None for any other object. (A preview saved by an earlier
    version is tagged True: its own name, less a ``.001``-style suffix Blender may have added.)"""
    tag = ob.get(PREVIEW_TAG)
    if tag is None:
        return None
    return tag if isinstance(tag, str) else re.sub(r"\.\d{3}$", "", ob.name)


def remove_previews(keep: str | None = None) -> None:
    """Remove every preview object (and its mesh) except the one made for ``keep``: after an undo, a redo or
    a file load."""
    for ob in [ob for ob in bpy.data.objects if _preview_of(ob) not in (None, keep)]:
        _remove_object_and_mesh(ob)


def remove_preview(name: str) -> None:
    """Remove the preview object made for ``name`` and its mesh, if it exists (nothing else is touched)."""
    ob = find_preview(name)
    if ob is not None:
        _remove_object_and_mesh(ob)


def _remove_object_and_mesh(ob) -> None:
    mesh = ob.data
    bpy.data.objects.remove(ob)
    if mesh is not None and mesh.users == 0:
        bpy.data.meshes.remove(mesh)


def uses_evaluated_mesh(ob) -> bool:
    """Fill Holes reads (and copies) the evaluated mesh when the object has modifiers or shape keys, whose
    output may differ from its mesh data in vertices and their order; otherwise the mesh data itself."""
    return bool(ob.modifiers) or getattr(ob.data, "shape_keys", None) is not None


def hole_filling_input(ob, depsgraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mesh object's geometry for ``core.fill.fill_holes``, in its local space: vertices float64 [V, 3]
    in the mesh's own vertex order, its faces triangulated (int64 [T, 3], Blender's loop triangles), and the
    vertices selected in Edit Mode (bool [V]). Raises ``InputError`` when the object is not a mesh with faces.
    """
    if ob.type != "MESH":
        kind = "a point cloud" if ob.type == "POINTCLOUD" else f"a {ob.type.lower()} object"
        raise InputError(f"'{ob.name}' is {kind}; Fill Holes needs a mesh with faces. "
                         "Use the Complete mode to build a closed mesh from it")
    evaluated = ob.evaluated_get(depsgraph) if uses_evaluated_mesh(ob) else None
    mesh = evaluated.to_mesh() if evaluated is not None else ob.data
    try:
        if len(mesh.polygons) == 0:
            raise InputError(f"'{ob.name}' has no faces (only vertices or edges); Fill Holes needs a mesh "
                             "with faces. Use the Complete mode to build a closed mesh from its points")
        vertices = _read_vectors(mesh.vertices, "co")
        check_finite(ob, vertices)
        mesh.calc_loop_triangles()
        triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", triangles)
        selected = np.zeros(len(mesh.vertices), dtype=bool)
        mesh.vertices.foreach_get("select", selected)
    finally:
        if evaluated is not None:
            evaluated.to_mesh_clear()
    return vertices, triangles.reshape(-1, 3).astype(np.int64), selected


def hole_boundary(mesh) -> Boundary:
    """The boundary of ``mesh`` in its own space (``core.holes.Boundary``), from its edges and polygons: each
    edge used by one polygon, directed against it, with that polygon's normal. Its loops are those the fill
    finds on the triangles of ``hole_filling_input`` (triangulating adds no boundary edge), at the cost of a
    few array reads, so the panel can list them before a run."""
    loop_count, polygon_count = len(mesh.loops), len(mesh.polygons)
    corner_vertices = read_array(mesh.loops, "vertex_index", loop_count, np.int32)
    corner_edges = read_array(mesh.loops, "edge_index", loop_count, np.int32)
    starts = read_array(mesh.polygons, "loop_start", polygon_count, np.int32)
    totals = read_array(mesh.polygons, "loop_total", polygon_count, np.int32)
    alone = np.flatnonzero(np.bincount(corner_edges, minlength=len(mesh.edges))[corner_edges] == 1)
    following = np.arange(1, loop_count + 1)
    following[starts + totals - 1] = starts  # the last corner of a polygon is followed by its first
    polygon_of = np.repeat(np.arange(polygon_count), totals)
    normals = read_array(mesh.polygons, "normal", polygon_count, np.float32, 3)[polygon_of[alone]]
    edges = np.stack([corner_vertices[following[alone]], corner_vertices[alone]], axis=1)
    return Boundary(edges.astype(np.int64), normals.astype(np.float64))


def copy_source_mesh(ob, depsgraph, name: str):
    """A new mesh datablock ``name`` holding exactly what ``hole_filling_input`` read: a copy of the object's
    mesh data (every attribute, UV map, colour and material kept), or of its evaluated mesh when it has
    modifiers or shape keys (those are applied, the copy has none)."""
    if uses_evaluated_mesh(ob):
        mesh = bpy.data.meshes.new_from_object(ob.evaluated_get(depsgraph), preserve_all_data_layers=True,
                                               depsgraph=depsgraph)
    else:
        mesh = ob.data.copy()
    mesh.name = name
    return mesh


def append_triangles(mesh, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Append ``vertices`` (float [N, 3], after the mesh's own) and ``triangles`` (int [P, 3], indices into the
    mesh's vertices followed by the new ones) to ``mesh``; the existing vertices, loops, faces and their
    attributes are kept as they are. The new faces take their neighbours' shading and every UV map is
    continued into them from the boundary (``continue_into_patches``). Returns bool [F + P], True for the
    new faces."""
    old_vertices, old_loops, old_faces = len(mesh.vertices), len(mesh.loops), len(mesh.polygons)
    triangles = np.asarray(triangles, dtype=np.int32).reshape(-1, 3)
    positions = np.empty(old_vertices * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", positions)
    corners = np.empty(old_loops, dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    starts = np.empty(old_faces, dtype=np.int32)
    mesh.polygons.foreach_get("loop_start", starts)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", np.concatenate([positions, np.asarray(vertices, dtype=np.float32).ravel()]))
    mesh.loops.add(triangles.size)
    mesh.loops.foreach_set("vertex_index", np.concatenate([corners, triangles.ravel()]))
    mesh.polygons.add(len(triangles))
    mesh.polygons.foreach_set("loop_start", np.concatenate(
        [starts, old_loops + np.arange(0, triangles.size, 3, dtype=np.int32)]))
    mesh.update(calc_edges=True)
    added = np.arange(len(mesh.polygons)) >= old_faces
    continue_into_patches(mesh, added, old_vertices)
    return added


def continue_into_patches(mesh, added: np.ndarray, old_vertices: int) -> None:
    """Patches (the faces flagged in ``added``, bool [F]) continue the mesh around them.

    Shading: a patch face is flat (``sharp_face``) when most faces around it are, found outward from the
    boundary (a flat-shaded scan gets flat patches). UVs: each UV map's value at a boundary vertex is the one
    an old face gives it there; the patch's own vertices get the harmonic interpolation of those (each the
    mean of its neighbours), so the texture stretches across the patch instead of collapsing to (0, 0).
    """
    if not added.any():
        return
    corners = read_array(mesh.loops, "vertex_index", len(mesh.loops), np.int32)
    sizes = read_array(mesh.polygons, "loop_total", len(mesh.polygons), np.int32)
    face_of_corner = np.repeat(np.arange(len(sizes)), sizes)
    sharp_attribute = mesh.attributes.get("sharp_face")
    if sharp_attribute is not None:
        sharp = read_array(sharp_attribute.data, "value", len(mesh.polygons), bool)
        spread = _spread(corners, face_of_corner, sharp.astype(np.float64), ~added, len(mesh.vertices))
        sharp[added] = spread[added] >= 0.5
        sharp_attribute.data.foreach_set("value", sharp)
    new_corner = added[face_of_corner]
    for layer in mesh.uv_layers:
        uv = read_array(layer.data, "uv", len(mesh.loops), np.float32, 2).astype(np.float64)
        known = np.zeros(len(mesh.vertices), dtype=bool)
        at_vertex = np.zeros((len(mesh.vertices), 2))
        at_vertex[corners[~new_corner]] = uv[~new_corner]
        known[corners[~new_corner]] = True
        uv[new_corner] = _harmonic(corners[new_corner].reshape(-1, 3), at_vertex, known)[corners[new_corner]]
        layer.data.foreach_set("uv", uv.astype(np.float32).ravel())


def _spread(corners: np.ndarray, face_of_corner: np.ndarray, value: np.ndarray, known: np.ndarray,
            vertex_count: int) -> np.ndarray:
    """Per face, ``value`` where ``known``, else the mean of the known faces sharing a vertex with it, taken
    in rings outward from the known faces."""
    value, known = value.copy(), known.copy()
    while not known.all():
        mask = known[face_of_corner]
        total = np.bincount(corners[mask], weights=value[face_of_corner[mask]], minlength=vertex_count)
        count = np.bincount(corners[mask], minlength=vertex_count)
        reached = count[corners] > 0
        face_total = np.bincount(face_of_corner, weights=np.where(reached, total[corners] / np.maximum(
            count[corners], 1), 0.0), minlength=len(known))
        face_count = np.bincount(face_of_corner, weights=reached, minlength=len(known))
        new = ~known & (face_count > 0)
        if not new.any():  # faces no known face reaches: smooth
            value[~known] = 0.0
            break
        value[new] = face_total[new] / face_count[new]
        known |= new
    return value


def _harmonic(triangles: np.ndarray, values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` [V, 2] with every vertex of ``triangles`` that is not ``known`` set to the mean of its
    neighbours (the discrete harmonic interpolation of the known ones; a part with none keeps (0, 0))."""
    from scipy.sparse import coo_matrix, diags
    from scipy.sparse.linalg import spsolve

    free = np.setdiff1d(np.unique(triangles), np.flatnonzero(known))
    if not len(free):
        return values
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    edges = np.concatenate([edges, edges[:, ::-1]])
    count = len(values)
    adjacency = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count)).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inner = adjacency[free][:, free]
    system = diags(degree[free] + 1e-9) - inner
    fixed = np.flatnonzero(known)
    rhs = adjacency[free][:, fixed] @ values[fixed]
    values = values.copy()
    values[free] = np.column_stack([spsolve(system.tocsc(), rhs[:, axis]) for axis in range(2)])
    return values
